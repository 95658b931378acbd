import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WaymarkDomain
import WaymarkErrors
import WaymarkEventStore

/// An error as the API answers it: `application/problem+json` (RFC 9457) with the error's stable
/// `code` beside the standard members, and what a caller needs to act on it (the field at fault,
/// a conflict's expected and actual versions).
public struct Problem: Codable, Sendable, Equatable {
    public static let mediaType = "application/problem+json"

    /// `urn:waymark:error:<code>`: a URI that names the code, as the RFC asks, without a page to host.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var code: String
    /// The request path.
    public var instance: String?
    public var field: String?
    public var stream: String?
    public var expectedVersion: String?
    public var actualVersion: Int64?

    public init(status: Int, code: String, title: String, detail: String, instance: String? = nil) {
        self.type = "urn:waymark:error:\(code)"
        self.title = title
        self.status = status
        self.detail = detail
        self.code = code
        self.instance = instance
    }

    /// The problem an error makes. Errors that are not Waymark's are reported without their text
    /// (`ErrorReport`), which nobody checked for personal data or internals.
    public init(_ error: any Error, instance: String?) {
        switch error {
        case let error as ApiError:
            self.init(status: error.code.httpStatus, code: error.code.name, title: Self.title(error.kind), detail: error.message, instance: instance)
            field = error.field
        case let error as WrongExpectedVersionError:
            self.init(status: 409, code: error.code.name, title: Self.title(error.kind), detail: error.message, instance: instance)
            stream = error.streamName
            expectedVersion = error.expected.description
            actualVersion = error.actualVersion
        case let error as HTTPError:
            let code = Self.httpCodes[error.status.code] ?? "http_\(error.status.code)"
            self.init(
                status: error.status.code, code: code, title: error.status.reasonPhrase, detail: error.body ?? error.status.reasonPhrase, instance: instance)
        default:
            let report = ErrorReport(error)
            self.init(status: report.kind.httpStatus, code: report.code, title: Self.title(report.kind), detail: report.message, instance: instance)
        }
    }

    static let httpCodes = [
        404: ApiError.Code.notFound.name, 413: ApiError.Code.bodyTooLarge.name,
        415: ApiError.Code.unsupportedMediaType.name, 401: ApiError.Code.unauthorized.name, 403: ApiError.Code.forbidden.name,
    ]

    static func title(_ kind: ErrorKind) -> String {
        switch kind {
        case .invalidInput: return "The request is not valid"
        case .notFound: return "Not found"
        case .conflict: return "Conflict"
        case .refused: return "Refused"
        case .unavailable: return "Unavailable, try again later"
        default: return "Internal error"
        }
    }

    public func response() -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(self)) ?? Data(#"{"code":"internal_error","status":500}"#.utf8)
        var headers: HTTPFields = [.contentType: Self.mediaType]
        if status == 401 { headers[.wwwAuthenticate] = #"Bearer realm="waymark""# }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error a route throws (and a path no route takes) into a problem response; logs the
/// ones that are Waymark's fault with their full text, which the caller does not see.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = Problem(error, instance: request.uri.path)
            if problem.status >= 500 {
                logger.error(
                    "request failed", metadata: ["http.method": "\(request.method)", "http.path": "\(request.uri.path)", "waymark.error": "\(error)"])
            }
            return problem.response()
        }
    }
}
