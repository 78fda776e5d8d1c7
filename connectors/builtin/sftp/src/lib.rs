//! The built-in `sftp` connector: RED's `Sftp` (`red_connectors_ssh.sftp`), one file over
//! SFTP. The host does the SSH and moves the bytes; this decides what to ask for.

mod access;

use red_connector_sdk::bindings::red::connector::sftp::Session;
use red_connector_sdk::{export_connector, ConnectorInfo, Error, Guest, Sink, Source};

use access::SftpAccess;

struct Connector;

impl Guest for Connector {
    fn info() -> ConnectorInfo {
        ConnectorInfo {
            name: "sftp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "RED's Sftp connector: download or upload one file over SSH SFTP.".into(),
            access_schema: access::SCHEMA.into(),
        }
    }

    fn validate_receive(access: String) -> Result<(), Error> {
        SftpAccess::parse(&access).map(drop)
    }

    fn validate_send(access: String) -> Result<(), Error> {
        SftpAccess::parse(&access).map(drop)
    }

    fn receive(access: String, target: Sink) -> Result<(), Error> {
        let access = SftpAccess::parse(&access)?;
        let session = Session::connect(&access.connect_config())?;
        session.download(&access.path, &target)?;
        Ok(())
    }

    fn send(access: String, source: Source) -> Result<(), Error> {
        let access = SftpAccess::parse(&access)?;
        let session = Session::connect(&access.connect_config())?;
        session.upload(&access.path, &source, true)?;
        Ok(())
    }
}

export_connector!(Connector);
