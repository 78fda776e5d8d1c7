//! The built-in `http-json` connector: RED's `HttpJson`.

red_connector_http::export_flavor!(red_connector_http::Flavor::Json);
