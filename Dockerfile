# The original walkthrough's calculator (examples/math), in a container:
#
#   docker build -t jrpc .
#   docker run -it --rm -p 8080:8080 -p 9000:9000 jrpc
#
# then open http://localhost:8080/. The page is served on port 8080 and its JRPC WebSocket on
# port 9000; both must be published on the same ports, since the page connects to port 9000
# of the host it was loaded from. Only pages of http://localhost:8080 and http://127.0.0.1:8080
# may open the WebSocket; for another address, add its origin:
#   docker run ... -e JRPC_ALLOW_ORIGINS=http://my-host:8080 jrpc

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace: every member's manifest is needed to build one of them.
COPY . .
RUN cargo build --locked --release -p jrpc-examples --example math \
 && cp target/release/examples/math /usr/local/bin/jrpc-math

FROM debian:bookworm-slim
COPY --from=build /usr/local/bin/jrpc-math /usr/local/bin/jrpc-math
# Inside the container, listen on every interface so that published ports reach it.
ENV JRPC_BIND=0.0.0.0 \
    JRPC_HTTP_PORT=8080 \
    JRPC_WS_PORT=9000
EXPOSE 8080 9000
USER nobody
# Stops on SIGTERM (docker stop) by itself: no init needed.
CMD ["jrpc-math"]
