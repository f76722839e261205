//! The portal's outgoing mail (password reset and invitation links), over SMTP with
//! lettre on tokio and rustls. Built once from `smtp.*`; absent when no host is set. The
//! password is handed to lettre and nowhere else: it is never logged, and neither is a
//! mail's body (it holds a one-time link).

use std::time::Duration;

use anyhow::Context;
use cloudbridge_shared::config::{SmtpSettings, SmtpTls};
use lettre::{
    message::{header::ContentType, Mailbox},
    transport::smtp::authentication::Credentials,
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

/// Sends the portal's mail.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The mailer of `settings`; `None` when mail is off. An unusable setting (a sender
    /// that is not an address, a host that is not a name) is a start-up error.
    pub fn from_settings(settings: &SmtpSettings) -> anyhow::Result<Option<Self>> {
        if !settings.enabled() {
            return Ok(None);
        }
        let host = settings.host.trim();
        let from: Mailbox = settings
            .from
            .parse()
            .with_context(|| format!("smtp.from `{}` is not a mail address", settings.from))?;
        let builder = match settings.tls {
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                host,
            )),
        }
        .with_context(|| format!("smtp.host `{host}`"))?;
        let mut builder = builder
            .port(settings.port())
            .timeout(Some(Duration::from_millis(settings.timeout_ms.max(1))));
        if !settings.user.is_empty() {
            builder = builder.credentials(Credentials::new(
                settings.user.clone(),
                settings.password.expose().to_string(),
            ));
        }
        Ok(Some(Self {
            transport: builder.build(),
            from,
        }))
    }

    /// Sends `text` (plain text) to `to` under `subject`.
    pub async fn send(&self, to: &str, subject: &str, text: String) -> anyhow::Result<()> {
        let to: Mailbox = to.parse().context("not a mail address")?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .context("composing the mail")?;
        self.transport
            .send(message)
            .await
            .context("the mail server refused or could not be reached")?;
        Ok(())
    }
}
