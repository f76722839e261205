//! `cloudbridge-api admin …`: operator commands.

use clap::{Parser, Subcommand};
use cloudbridge_shared::{db, Settings};

/// Command line of `cloudbridge-api`.
#[derive(Debug, Parser)]
#[command(name = "cloudbridge-api", about = "Cloudbridge API tier")]
pub struct Cli {
    /// Without a command, serve the API.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Operator commands.
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: Admin,
    },
}

/// Operator actions.
#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Creates a developer (or adds a key to an existing one) and prints a new
    /// DeveloperKey as the last line.
    CreateDeveloper {
        /// The developer's e-mail.
        #[arg(long)]
        email: String,
    },
    /// Gives a developer (made if there is none) a new random portal password, printed as
    /// the last line; signs it out everywhere. `--admin` makes it an appliance admin.
    ResetPassword {
        /// The developer's e-mail.
        #[arg(long)]
        email: String,
        /// Make the developer an appliance admin too.
        #[arg(long)]
        admin: bool,
    },
    /// Applies pending database migrations.
    Migrate,
}

/// Runs an admin action.
pub async fn run(settings: &Settings, action: Admin) -> anyhow::Result<()> {
    let pool = db::pool(&settings.database)?;
    db::migrate(&pool).await?;
    match action {
        Admin::Migrate => println!("migrations applied"),
        Admin::CreateDeveloper { email } => {
            let email = email.trim();
            anyhow::ensure!(
                email.contains('@') && email.len() <= 254,
                "not an e-mail address"
            );
            let email = &db::developers::normalise_email(email);
            let key = db::developers::create_with_new_key(&pool, email).await?;
            println!("developer {email} created; DeveloperKey:");
            println!("{key}");
        }
        Admin::ResetPassword { email, admin } => {
            let email = db::developers::normalise_email(&email);
            anyhow::ensure!(
                email.contains('@') && email.len() <= 254,
                "not an e-mail address"
            );
            let password = cloudbridge_shared::secret::random_token(15);
            let hash = cloudbridge_shared::secret::hash_password(&password);
            db::developers::set_password(&pool, &email, &hash, admin).await?;
            println!("portal password of {email} set (it signs in at the portal); password:");
            println!("{password}");
        }
    }
    Ok(())
}
