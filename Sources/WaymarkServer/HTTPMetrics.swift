import Dispatch
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import Prometheus

/// Counts every request by route, method and status, and times it by route and method
/// (`waymark_http_requests_total`, `waymark_http_request_duration_seconds`), through the factory
/// given (the server's Prometheus registry). Outermost, so that it sees the status of the problem
/// an error became.
struct HTTPMetrics: RouterMiddleware {
    typealias Context = ApiContext
    let factory: any MetricsFactory

    func handle(_ request: Request, context: ApiContext, next: (Request, ApiContext) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let response = try await next(request, context)
        // The route as registered (`/v1/journeys/{journeyId}`), never the path a caller sent.
        let route = context.endpointPath ?? "unmatched"
        Counter(
            label: "waymark_http_requests_total",
            dimensions: [("route", route), ("method", request.method.rawValue), ("status", "\(response.status.code)")], factory: factory
        ).increment()
        Metrics.Timer(label: "waymark_http_request_duration_seconds", dimensions: [("route", route), ("method", request.method.rawValue)], factory: factory)
            .recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        return response
    }
}

extension ApiServer {
    /// `/metrics`: the registry in Prometheus' text format (role operator: a scrape sends its key).
    func addMetricsRoute(to router: Router<ApiContext>, registry: PrometheusCollectorRegistry) {
        router.get("metrics") { _, context in
            _ = try context.require(.operator)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
