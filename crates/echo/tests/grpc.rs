//! The gRPC echo service with a tonic client over h2c.

mod common;

use common::{config, listener, within};
use portico_echo::proto::EchoRequest;
use portico_echo::proto::grpc_echo_client::GrpcEchoClient;
use portico_echo::{CancellationToken, serve_grpc};

#[tokio::test]
async fn echo_reports_method_authority_headers_and_context() {
    let (config, log) = config("grpc-infra-backend-v1");
    let mut records = log.subscribe();
    let server = serve_grpc(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let addr = server.local_addr();
    let channel = within(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .origin("http://grpc.example.com".parse().expect("origin"))
            .connect(),
    )
    .await
    .expect("connect");
    let mut client = GrpcEchoClient::new(channel);

    let mut req = tonic::Request::new(EchoRequest {});
    req.metadata_mut()
        .insert("x-custom", "value".parse().expect("metadata"));
    let resp = within(client.echo(req)).await.expect("echo").into_inner();
    let a = resp.assertions.expect("assertions");
    assert_eq!(
        a.fully_qualified_method,
        "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo"
    );
    assert_eq!(a.authority, "grpc.example.com");
    assert!(
        a.headers
            .iter()
            .any(|h| h.key == "x-custom" && h.value == "value")
    );
    let ctx = a.context.expect("context");
    assert_eq!(ctx.namespace, "gateway-conformance-infra");
    assert_eq!(ctx.service_name, "grpc-infra-backend-v1");
    assert_eq!(ctx.pod, server.identity().pod);

    let two = within(client.echo_two(EchoRequest {}))
        .await
        .expect("echo two")
        .into_inner();
    assert_eq!(
        two.assertions.expect("assertions").fully_qualified_method,
        "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/EchoTwo"
    );

    let three = within(client.echo_three(EchoRequest {})).await;
    assert_eq!(
        three.expect_err("unimplemented").code(),
        tonic::Code::Unimplemented
    );

    let record = within(records.recv()).await.expect("record");
    assert_eq!(
        record.request_uri,
        "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo"
    );
}

#[tokio::test]
async fn reflection_lists_the_echo_service() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let (config, _log) = config("grpc-infra-backend-v1");
    let server = serve_grpc(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let channel = within(
        tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr()))
            .expect("endpoint")
            .connect(),
    )
    .await
    .expect("connect");
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = within(client.server_reflection_info(futures::stream::iter([request])))
        .await
        .expect("reflection")
        .into_inner();
    let response = within(stream.message())
        .await
        .expect("message")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&portico_echo::GRPC_ECHO_SERVICE),
        "{names:?}"
    );
}
