import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore
import WaymarkDomain
import WaymarkErrors
import WaymarkEventStore
import WaymarkPostgres
import WaymarkServer

/// The operator console: server-rendered pages under `/console` on the API's server, reading the
/// same views with the same roles. Pages work without JavaScript; a little (`console.js`) moves
/// countdowns and refreshes a page when the log moves, through a positions-only live feed.
public struct Console: Sendable {
    public let api: ApiServer
    public let catalog: JourneyCatalog
    let templates: MustacheLibrary
    let assets: [String: (contentType: String, body: ByteBuffer)]
    /// Set the session cookie `Secure` (the server runs over TLS).
    public let secureCookies: Bool
    public let logger: Logger
    /// The map's and the flow page's figures over history, by type (and version).
    let mapFigures: RecentFigures<MapStatistics>
    let flowFigures: RecentFigures<FlowPage>

    /// `figuresMaxAge`: how long the map and flow analytics reuse the figures over a journey
    /// type's history a request computed (counts of open journeys are always read afresh).
    public init(
        api: ApiServer, catalog: JourneyCatalog, secureCookies: Bool = false, figuresMaxAge: Duration = .seconds(60), time: WallTime = .system,
        logger: Logger
    ) async throws {
        self.api = api
        self.catalog = catalog
        self.secureCookies = secureCookies
        self.logger = logger
        mapFigures = RecentFigures(maxAge: figuresMaxAge, time: time)
        flowFigures = RecentFigures(maxAge: figuresMaxAge, time: time)
        guard let folder = Bundle.module.resourceURL else {
            throw ConsoleError("cannot find the console's resource bundle (Waymark_WaymarkConsole.resources) beside the binary")
        }
        templates = try await MustacheLibrary(directory: folder.appendingPathComponent("Templates").path)
        var assets: [String: (String, ByteBuffer)] = [:]
        for (name, type) in [("console.css", "text/css; charset=utf-8"), ("console.js", "text/javascript; charset=utf-8")] {
            let data = try Data(contentsOf: folder.appendingPathComponent("Assets").appendingPathComponent(name))
            assets[name] = (type, ByteBuffer(bytes: data))
        }
        self.assets = assets
        for name in Self.templateNames where templates.getTemplate(named: name) == nil {
            throw ConsoleError("the console's template \(name).mustache is missing from its resource bundle")
        }
    }

    static let templateNames = ["layout", "signin", "problem", "board", "journeys", "journey", "sla", "escalations", "consent", "operations", "map", "flow"]

    /// The console's routes, behind its session middleware, on the API's router.
    public func addRoutes(to router: Router<ApiContext>) {
        router.get("/") { _, _ in Response.redirect(to: "/console/board", type: .found) }
        let group = router.group("console").add(middleware: ConsoleSession(console: self))
        group.get("/") { _, _ in Response.redirect(to: "/console/board", type: .found) }
        group.get("assets/:name") { _, context in
            guard let name = context.parameters.get("name"), let asset = assets[name] else { throw ApiError(.notFound, "no such asset") }
            return Response(
                status: .ok, headers: [.contentType: asset.contentType, .cacheControl: "max-age=300"], body: .init(byteBuffer: asset.body))
        }
        addSessionRoutes(to: group)
        addBoardRoutes(to: group)
        addJourneyListRoutes(to: group)
        addJourneyRoutes(to: group)
        addMapRoutes(to: group)
        addFlowRoutes(to: group)
        addSLARoutes(to: group)
        addEscalationRoutes(to: group)
        addConsentRoutes(to: group)
        addOperationRoutes(to: group)
        group.get("live") { request, context in
            _ = try context.require(Self.readers)
            return try await api.liveFeed(request, context, category: nil, positionsOnly: true)
        }
    }

    /// Who may read the console's pages: those who may read the views.
    static let readers: [ApiRole] = [.analyst, .operator]

    /// A page: `template` filled with `page`, inside the layout with its navigation.
    func render(_ template: String, title: String, page: Any, context: ApiContext, current: String, status: HTTPResponse.Status = .ok) throws
        -> Response
    {
        let frame = Frame(title: title, principal: context.principal, current: current)
        guard let body = templates.render(["frame": frame, "page": page], withTemplate: template) else {
            throw ConsoleError("the console's template \(template) did not render")
        }
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        // Nothing from elsewhere: scripts, styles and images come from the console itself.
        // Bars take their width from a style attribute (numbers the console wrote), nothing else inline.
        headers[.contentSecurityPolicy] =
            "default-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// What the layout shows around every page: the title, who is signed in, and the navigation.
struct Frame {
    struct Link {
        var href: String
        var label: String
        var current: Bool
    }
    var title: String
    var signedIn: Bool
    var who: String
    var roles: String
    var isOperator: Bool
    var links: [Link]

    init(title: String, principal: Principal?, current: String) {
        self.title = title
        signedIn = principal != nil
        who = principal?.keyId ?? ""
        roles = principal?.roles.map(\.rawValue).sorted().joined(separator: ", ") ?? ""
        isOperator = principal?.roles.contains(.operator) ?? false
        var links = [
            ("board", "Board"), ("sla", "SLA risk"), ("escalations", "Escalations"), ("map", "Journey map"), ("flow", "Flow analytics"),
            ("consent", "Consent"),
        ]
        if isOperator { links.append(("operations", "Operations")) }
        self.links = principal == nil ? [] : links.map { Link(href: "/console/\($0.0)", label: $0.1, current: $0.0 == current) }
    }
}

/// The console cannot start or render: a resource missing from its bundle.
public struct ConsoleError: WaymarkError {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case unavailable = "console_unavailable"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A template or asset is missing from the console's resource bundle, or did not render.
        public static let unavailable = Code(.unavailable)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        public var kind: ErrorKind { .internal }
    }

    public let code: Code
    public let message: String

    init(_ message: String) {
        code = .unavailable
        self.message = message
    }
}
