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
# HTTP API, web UI and WebSocket; WebRTC media on one UDP port. Behind NAT,
# add --public-ip. Browsers need HTTPS (a proxy in front) outside localhost.
EXPOSE 8080/tcp 8443/udp
ENTRYPOINT ["cuecard"]
CMD ["serve", "--addr", ":8080", "--data", "/var/lib/cuecard"]
