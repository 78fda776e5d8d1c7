//! The built-in `http-json` connector: RED's `HttpJson`.

use red_connector_http::Flavor;
use red_connector_sdk::{export_connector, ConnectorInfo, Error, Guest, Sink, Source};

const FLAVOR: Flavor = Flavor::Json;

struct Connector;

impl Guest for Connector {
    fn info() -> ConnectorInfo {
        FLAVOR.info()
    }
    fn validate_receive(access: String) -> Result<(), Error> {
        FLAVOR.validate_receive(&access)
    }
    fn validate_send(access: String) -> Result<(), Error> {
        FLAVOR.validate_send(&access)
    }
    fn receive(access: String, target: Sink) -> Result<(), Error> {
        FLAVOR.receive(&access, target)
    }
    fn send(access: String, source: Source) -> Result<(), Error> {
        FLAVOR.send(&access, source)
    }
}

export_connector!(Connector);
