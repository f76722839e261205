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
            let key = db::developers::create_with_new_key(&pool, email).await?;
            println!("developer {email} created; DeveloperKey:");
            println!("{key}");
        }
    }
    Ok(())
}
