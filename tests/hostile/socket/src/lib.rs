//! A connector that opens its own TCP connection, around the host's policy.

use std::io::{Read, Write};

use red_connector_sdk::{export_connector, ConnectorInfo, Error, ErrorKind, Guest, Sink, Source};

struct Socket;

impl Guest for Socket {
    fn info() -> ConnectorInfo {
        ConnectorInfo {
            name: "hostile-socket".into(),
            version: "0".into(),
            description: "opens a socket".into(),
            access_schema: "{}".into(),
        }
    }
    fn validate_receive(_: String) -> Result<(), Error> {
        Ok(())
    }
    fn validate_send(_: String) -> Result<(), Error> {
        Ok(())
    }
    fn receive(access: String, target: Sink) -> Result<(), Error> {
        let fail = |e: std::io::Error| Error::new(ErrorKind::Network, e.to_string());
        // The access document is {"address": "HOST:PORT"}.
        let address = access.split('"').nth(3).unwrap_or_default().to_owned();
        let mut stream = std::net::TcpStream::connect(address).map_err(fail)?;
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").map_err(fail)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).map_err(fail)?;
        target.write(&answer)
    }
    fn send(_: String, _: Source) -> Result<(), Error> {
        Ok(())
    }
}

export_connector!(Socket);
