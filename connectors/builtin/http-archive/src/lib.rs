//! The built-in `http-archive` connector: the command `red-connector-http-archive`.

red_connector_http::export_flavor!(red_connector_http::Flavor::Archive);
