# Written by slimage for hello. It builds from the module root with Docker alone
# (no Go and no slimage on the host):
#   docker build -f dist/image/Dockerfile.multistage -t <image> \
#     --build-arg VERSION=<version> [--build-arg GOPROXY=<proxy>] .
# Copy dist/image/Dockerfile.multistage.dockerignore to .dockerignore at the module root if your builder
# does not read a Dockerfile's own ignore file (Docker's legacy builder).

FROM golang:1.24 AS build
ARG GOPROXY
ARG GOPRIVATE
ARG GONOSUMDB
ARG GOSUMDB
ARG GOFLAGS
# The scratch image's files, laid out as slimage's host mode does: users
# (root, nonroot 65532), an empty /tmp (1777), the CA bundle, and the
# Asia/Shanghai zone where Go looks when TZ is set and at /etc/localtime.
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/app && chmod 1777 /rootfs/tmp \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && mkdir -p /rootfs/usr/share/zoneinfo/Asia \
 && cp /usr/share/zoneinfo/Asia/Shanghai /rootfs/usr/share/zoneinfo/Asia/Shanghai \
 && cp /usr/share/zoneinfo/Asia/Shanghai /rootfs/etc/localtime
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when go.mod or
# go.sum change, not when the code does.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG VERSION=dev
ARG REVISION
ARG CREATED
RUN CGO_ENABLED=0 go build -trimpath -mod=readonly -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${REVISION} -X main.date=${CREATED}" -o /out/hello .
FROM scratch
ARG VERSION=dev
ARG REVISION
ARG CREATED
COPY --from=build /rootfs/ /
ENV TZ=Asia/Shanghai
COPY conf.yaml /app/conf.yaml
WORKDIR /app
USER 65532:65532
EXPOSE 8080/tcp
ENTRYPOINT ["/app/hello"]
LABEL org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://example.com/hello" \
      org.opencontainers.image.title="hello" \
      org.opencontainers.image.version="${VERSION}"
# The binary last: a code change rebuilds only this layer.
COPY --from=build /out/hello /app/hello
