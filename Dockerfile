# Fluent Bit with the docker_logs input. Build:
#   docker build -t fluent-bit-docker-logs .
# Run (the plugin reads the engine's API through its socket; the volume
# keeps its checkpoint and Fluent Bit's filesystem buffer):
#   docker run -d --name fluent-bit -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     -v fluent-bit-db:/var/lib/fluent-bit fluent-bit-docker-logs
# or, beside an application: docker compose -f conf/docker-compose.yml up --build
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY capture capture
COPY plugin plugin
RUN CGO_ENABLED=1 go build -trimpath -buildmode=c-shared -o /out/in_docker_logs.so ./plugin

FROM fluent/fluent-bit:5.1
COPY --from=build /out/in_docker_logs.so /fluent-bit/plugins/in_docker_logs.so
COPY conf/docker.yaml /fluent-bit/etc/fluent-bit.yaml
VOLUME /var/lib/fluent-bit
CMD ["/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.yaml"]
