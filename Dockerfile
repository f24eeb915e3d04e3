# Multi-stage: build a static binary (pure-Go SQLite, no cgo), run it as a non-root user
# on a distroless base that has no shell to attack.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# docker build --build-arg VERSION=$(git describe --tags --always --dirty) (compose:
# BENEFITS_VERSION in .env); empty, --version falls back to the VCS revision Go records
# when .git is in the build context, else "dev".
ARG VERSION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/benefits ./cmd/benefits \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/benefits /usr/local/bin/benefits
# Owned by nonroot, so the named volume compose mounts here starts writable by it.
COPY --from=build --chown=65532:65532 /out/data /var/lib/benefits
USER nonroot:nonroot
WORKDIR /var/lib/benefits
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/benefits"]
CMD ["serve"]
