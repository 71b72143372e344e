# syntax=docker/dockerfile:1
# Build with the project's Makefile, then run cuecard on a slim image that
# carries only the runtime libraries and the speech model.
FROM golang:1.26-bookworm AS build
# The go command fetches this Go from the module proxy and builds with it
# (the Makefile sets the same).
ENV GOTOOLCHAIN=go1.27.3
WORKDIR /src
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	gcc pkg-config libpocketsphinx-dev pocketsphinx-en-us libsphinxbase-dev \
	libopus-dev libopusfile-dev libsoxr-dev flite sox && rm -rf /var/lib/apt/lists/*
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	libpocketsphinx3 libsphinxbase3 pocketsphinx-en-us libopus0 libopusfile0 libsoxr0 flite sox ca-certificates \
	&& rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/cuecard cuecard \
	&& mkdir -p /var/lib/cuecard && chown cuecard /var/lib/cuecard
COPY --from=build /src/bin/cuecard /usr/local/bin/cuecard
COPY --from=build /src/examples /usr/share/cuecard/examples
USER cuecard
WORKDIR /var/lib/cuecard
# The container listens on all its interfaces, so it must sit behind a
# reverse proxy that terminates TLS (Caddy, nginx; see docs/deploy.md):
# --behind-proxy says so, and the server then trusts the proxy's
# X-Forwarded-For. Publish 8080 to the proxy only (e.g. -p 127.0.0.1:8080:8080).
#
# Give the URL users reach in CMD (arguments after the image name), and
# for WebRTC the host's public IP and the UDP port published as is:
#
#   docker run -p 127.0.0.1:8080:8080 -p 8443:8443/udp -v cuecard:/var/lib/cuecard \
#     IMAGE --public-url https://coach.example.com --public-ip 203.0.113.7
#
# WebRTC media uses the one UDP port 8443 (--webrtc-udp-port); it bypasses
# the proxy and must be published with the same number on the host. Without
# it browsers fall back to the WebSocket through the proxy.
EXPOSE 8080/tcp 8443/udp
ENTRYPOINT ["cuecard", "serve", "--addr", "0.0.0.0:8080", "--behind-proxy", "--data", "/var/lib/cuecard"]
CMD []
