# syntax=docker/dockerfile:1
# Build with the version stamped the way `make build` stamps it:
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg REVISION=$(git rev-parse HEAD) -t flexus .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.BuildUser=docker \
        -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" \
      -o /out/flexus ./cmd/flexus

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="flexus" \
      org.opencontainers.image.description="Prometheus-native autoscaler for Huawei Cloud Flexus X: exporter, webhook actuator, cloud emulator and backtest" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/flexus-autoscaler/flexus"
COPY --from=build /out/flexus /usr/local/bin/flexus
USER 65532:65532
# 9847 exporter, 9848 actuator, 9849 simcloud
EXPOSE 9847 9848 9849
ENTRYPOINT ["/usr/local/bin/flexus"]
CMD ["exporter", "--config.file=/etc/flexus/flexus.yml"]
