//! The built-in `http-mock-send` connector: RED's `HttpMockSend`.

red_connector_http::export_flavor!(red_connector_http::Flavor::MockSend);
