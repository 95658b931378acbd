import Foundation
import HTTPTypes
import Hummingbird
import WaymarkErrors
import WaymarkServer

/// The console's sign-in: the API key or single sign-on token a person pastes is kept in an
/// HttpOnly, SameSite=Strict cookie scoped to `/console`, and names the caller on each page as the
/// `Authorization` header does for the API, so a page obeys the same roles. Errors become pages: a
/// request without a session goes to the sign-in page, a role that may not see a page gets a
/// refusal it can read.
struct ConsoleSession: RouterMiddleware {
    typealias Context = ApiContext
    static let cookie = "waymark_console"
    let console: Console

    func handle(_ request: Request, context: ApiContext, next: (Request, ApiContext) async throws -> Response) async throws -> Response {
        var context = context
        let path = request.uri.path
        do {
            if context.principal == nil, let credential = request.cookies[Self.cookie]?.value, !credential.isEmpty {
                do {
                    context.principal = try await console.api.principal(credential)
                } catch let error as ApiError where error.code == .unauthorized {
                    // A key revoked or expired since sign-in: sign in again.
                    return Self.signInRedirect(path: path, reason: "expired", clearing: true)
                }
            }
            // A key's console pages count against its rate as its API requests do (the assets and
            // the live feed's reconnects do not).
            if let limit = console.api.rateLimit, let principal = context.principal, !path.hasPrefix("/console/assets"), !path.hasSuffix("/live"),
                let wait = limit.take(principal.keyId)
            {
                var response = try page(
                    for: Problem(
                        ApiError(.rateLimited, "key \(principal.keyId) made more than \(limit.perSecond) requests a second; try again in \(wait) s"),
                        instance: path), context: context)
                response.headers[.retryAfter] = "\(wait)"
                return response
            }
            if request.method == .post { try Self.requireSameOrigin(request) }
            return try await next(request, context)
        } catch let error as ApiError where error.code == .unauthorized && context.principal == nil {
            if path.hasSuffix("/live") { throw error }
            return Self.signInRedirect(path: request.uri.description, reason: nil, clearing: false)
        } catch {
            if path.hasSuffix("/live") || path.hasPrefix("/console/assets") { throw error }
            let problem = Problem(error, instance: path)
            if problem.status >= 500 { console.logger.error("console page failed", metadata: ["path": "\(path)", "error": "\(problem.detail)"]) }
            return try page(for: problem, context: context)
        }
    }

    /// A problem as a page, with its status.
    private func page(for problem: Problem, context: ApiContext) throws -> Response {
        try console.render(
            "problem", title: problem.title, page: ProblemPage(problem), context: context, current: "", status: HTTPResponse.Status(code: problem.status))
    }

    /// A form posted from another site would carry the cookie only if the browser ignored
    /// SameSite; the Origin (or Referer) a browser sends must also be this server.
    static func requireSameOrigin(_ request: Request) throws {
        guard let host = request.head.authority else { return }
        let origin = request.headers[.origin] ?? request.headers[.referer]
        guard let origin, origin != "null" else {
            throw ApiError(.forbidden, "a form must come from the console's own pages (the browser sent no Origin)")
        }
        guard let url = URL(string: origin), let originHost = url.host else {
            throw ApiError(.forbidden, "a form must come from the console's own pages")
        }
        let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
        guard originAuthority == host else {
            throw ApiError(.forbidden, "a form must come from the console's own pages, not from \(origin.prefix(100))")
        }
    }

    static func signInRedirect(path: String, reason: String?, clearing: Bool) -> Response {
        var query = "next=" + (path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        if let reason { query += "&reason=\(reason)" }
        var response = Response.redirect(to: "/console/sign-in?\(query)", type: .found)
        if clearing { response.setCookie(Cookie(name: cookie, value: "", maxAge: 0, path: "/console", httpOnly: true, sameSite: .strict)) }
        return response
    }
}

/// An error as a page: what the API would have answered, for a person.
struct ProblemPage {
    var status: Int
    var title: String
    var detail: String
    var code: String
    var signIn: Bool

    init(_ problem: Problem) {
        status = problem.status
        title = problem.title
        detail = problem.detail
        code = problem.code
        signIn = problem.status == 401
    }
}

extension Console {
    struct SignInPage {
        var next: String
        var message: String?
    }

    /// `next` only ever leads back into the console.
    static func safeNext(_ text: String?) -> String {
        guard let text, text.hasPrefix("/console/"), !text.hasPrefix("//"), !text.contains("\\") else { return "/console/board" }
        return text
    }

    func addSessionRoutes(to group: RouterGroup<ApiContext>) {
        group.get("sign-in") { request, context in
            let reason = request.uri.queryParameters["reason"].map(String.init)
            let page = SignInPage(
                next: Self.safeNext(request.uri.queryParameters["next"].map(String.init)),
                message: reason == "expired" ? "Your key was revoked or has expired: sign in again." : nil)
            return try render("signin", title: "Sign in", page: page, context: context, current: "")
        }
        group.post("sign-in") { request, context in
            let form = try await Self.form(request)
            let next = Self.safeNext(form["next"])
            let credential = (form["credential"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let principal: Principal
            do {
                principal = try await api.principal(credential)
            } catch let error as ApiError where error.code == .unauthorized {
                let page = SignInPage(next: next, message: "That key or token was not accepted: \(error.message).")
                return try render("signin", title: "Sign in", page: page, context: context, current: "", status: .unauthorized)
            }
            guard !principal.roles.isDisjoint(with: Self.readers) else {
                let page = SignInPage(
                    next: next,
                    message:
                        "The console is for analysts and operators; this key's role (\(principal.roles.map(\.rawValue).sorted().joined(separator: ", "))) cannot read it."
                )
                return try render("signin", title: "Sign in", page: page, context: context, current: "", status: .forbidden)
            }
            var response = Response.redirect(to: next, type: .normal)
            response.setCookie(
                Cookie(name: ConsoleSession.cookie, value: credential, path: "/console", secure: secureCookies, httpOnly: true, sameSite: .strict))
            return response
        }
        group.post("sign-out") { _, _ in
            var response = Response.redirect(to: "/console/sign-in", type: .normal)
            response.setCookie(Cookie(name: ConsoleSession.cookie, value: "", maxAge: 0, path: "/console", httpOnly: true, sameSite: .strict))
            return response
        }
    }

    /// An `application/x-www-form-urlencoded` body, at most 64 KiB.
    static func form(_ request: Request) async throws -> [String: String] {
        var request = request
        let buffer = try await request.collectBody(upTo: 64 << 10)
        var fields: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}
