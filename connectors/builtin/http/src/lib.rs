//! The built-in `http` connector: RED's `Http`.

red_connector_http::export_flavor!(red_connector_http::Flavor::Plain);
