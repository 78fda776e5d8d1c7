# A RED experiment image whose connectors run through red-wasm: a fragment to add to the
# image's own Dockerfile. red-wasm is one static binary (x86_64-unknown-linux-musl, no shared
# libraries), so it runs on any x86-64 Linux base: Debian, Ubuntu 20.04, CentOS/Rocky, Alpine.
#
# Build the binary once on the host (`bash .ci/setup` leaves it in
# target/x86_64-unknown-linux-musl/release/red-wasm), put it beside this Dockerfile, then:

COPY red-wasm /usr/local/bin/red-wasm

# Writes red-connector-http, -http-json, -http-mock-send, -ssh and -xnat-http into
# /usr/local/bin, and precompiles every connector into /usr/local/bin/.red-wasm-precompiled
# (root-owned, readable by all): no launch compiles, whatever user the image runs as and
# whatever its HOME. Your own connector too:
#   RUN red-wasm install-commands /usr/local/bin --component /opt/my.wasm --name red-connector-mine
RUN red-wasm install-commands /usr/local/bin

# Optional: make a launch that would compile fail instead (a check that the step above ran).
ENV RED_WASM_COMPILE=never
