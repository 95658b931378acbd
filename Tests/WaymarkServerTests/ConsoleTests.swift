import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkServer
import WaymarkSimulation
import WaymarkTesting

/// The console over plain HTTP: sign-in and its cookie, the pages each role may see, the forms'
/// origin check, and what bad input shows. The browser tests (`ConsoleBrowserTests`) click through
/// the same pages in chromium.
@Suite("Console: pages, sign-in and roles", .scaledTimeLimit(minutes: 4))
struct ConsoleTests {
    /// A client that shows redirects instead of following them, and sends the console's cookie.
    struct Browser {
        let fixture: ServerFixture
        let http: HTTPClient

        func request(
            _ method: HTTPMethod, _ path: String, session: String?, form: String? = nil, origin: String?? = .none
        ) async throws -> ServerFixture.Reply {
            var request = HTTPClientRequest(url: fixture.base + path)
            request.method = method
            if let session { request.headers.add(name: "cookie", value: "waymark_console=\(session)") }
            switch origin {
            case .none: if method == .POST { request.headers.add(name: "origin", value: fixture.base) }
            case .some(let value?): request.headers.add(name: "origin", value: value)
            case .some(.none): break
            }
            if let form {
                request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: form))
            }
            let response = try await http.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 16 << 20)
            return .init(
                status: Int(response.status.code), contentType: response.headers.first(name: "content-type"), headers: response.headers,
                body: Data(buffer: body))
        }

        static func run(_ fixture: ServerFixture, _ body: (Browser) async throws -> Void) async throws {
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
            do {
                try await body(Browser(fixture: fixture, http: http))
            } catch {
                try? await http.shutdown()
                throw error
            }
            try await http.shutdown()
        }
    }

    static func seed(_ fixture: ServerFixture) async throws {
        try await ViewRoutesTests.seed(fixture)
        // Stalled: entered its first stage 40 days ago, past every stage's longest dwell.
        try await fixture.client.send(
            .start(.init(customerId: "c-2", journeyType: "order-to-cash", tier: "standard")), to: "o-stalled",
            context: CommandContext(commandId: UUID(), occurredAt: Date().addingTimeInterval(-40 * 86_400)))
        // An id a page must show as text, never as markup.
        try await fixture.client.send(
            .start(.init(customerId: "c-2", journeyType: "order-to-cash", tier: "standard")), to: "<script>alert(1)</script>",
            context: CommandContext(commandId: UUID()))
    }

    @Test("sign-in sets an HttpOnly, SameSite=Strict cookie for a reader's key, and refuses a service key, a wrong key, and a next page elsewhere")
    func signIn() async throws {
        try await ServerFixture.run(console: true) { fixture in
            try await Browser.run(fixture) { browser in
                let away = try await browser.request(.GET, "/console/board", session: nil)
                #expect(away.status == 302 && away.headers.first(name: "location")?.hasPrefix("/console/sign-in?next=") == true)

                let form = "credential=\(fixture.key(.analyst))&next=%2Fconsole%2Fsla"
                let signedIn = try await browser.request(.POST, "/console/sign-in", session: nil, form: form)
                #expect(signedIn.status == 303 && signedIn.headers.first(name: "location") == "/console/sla", "\(signedIn.text)")
                let cookie = signedIn.headers.first(name: "set-cookie") ?? ""
                #expect(cookie.hasPrefix("waymark_console=\(fixture.key(.analyst))"), "\(cookie)")
                for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] { #expect(cookie.contains(attribute), "\(cookie)") }

                let elsewhere = try await browser.request(
                    .POST, "/console/sign-in", session: nil, form: "credential=\(fixture.key(.operator))&next=https%3A%2F%2Fevil.example%2F")
                #expect(elsewhere.headers.first(name: "location") == "/console/board")

                let service = try await browser.request(.POST, "/console/sign-in", session: nil, form: "credential=\(fixture.key(.service))")
                #expect(service.status == 403 && service.headers.first(name: "set-cookie") == nil && service.text.contains("analysts and operators"))
                let wrong = try await browser.request(.POST, "/console/sign-in", session: nil, form: "credential=wmk_0000000000000000_nope")
                #expect(wrong.status == 401 && wrong.headers.first(name: "set-cookie") == nil && wrong.text.contains("not accepted"))

                // A key revoked after sign-in ends the session.
                try await fixture.keyStore.revoke(String(fixture.key(.analyst).split(separator: "_")[1]), by: "test")
                let revoked = try await browser.request(.GET, "/console/board", session: fixture.key(.analyst))
                #expect(revoked.status == 302 && revoked.headers.first(name: "location")?.contains("reason=expired") == true)
                #expect(revoked.headers.first(name: "set-cookie")?.contains("Max-Age=0") == true)
            }
        }
    }

    @Test("every page renders for an operator; an analyst sees the views but not operations, and no action buttons; ids are escaped")
    func pagesByRole() async throws {
        try await ServerFixture.run(console: true) { fixture in
            try await Self.seed(fixture)
            try await fixture.catchUpProjections()
            try await Browser.run(fixture) { browser in
                let operatorKey = fixture.key(.operator)
                let analystKey = fixture.key(.analyst)
                for path in [
                    "/console/board?type=order-to-cash", "/console/journeys/o-1", "/console/sla", "/console/escalations", "/console/consent?subject=c-1",
                    "/console/consent?subject=c-1&asOf=2020-01-01", "/console/operations", "/console/journeys?type=order-to-cash",
                ] {
                    let page = try await browser.request(.GET, path, session: operatorKey)
                    #expect(page.status == 200 && page.contentType == "text/html; charset=utf-8", "\(path): \(page.status) \(page.text.prefix(400))")
                    #expect(page.text.contains("<main id=\"main\""), "\(path)")
                    #expect(page.headers.first(name: "content-security-policy")?.contains("default-src 'self'") == true)
                }
                let board = try await browser.request(.GET, "/console/board?type=order-to-cash", session: analystKey)
                #expect(board.text.contains(#"<li class="card stalled breached" data-journey="o-stalled">"#), "\(board.text)")
                #expect(!board.text.contains("<script>alert(1)</script>") && board.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
                #expect(!board.text.contains("Zebediah"), "a personal value on the board")

                let operations = try await browser.request(.GET, "/console/operations", session: analystKey)
                #expect(operations.status == 403 && operations.text.contains("takes role operator"), "\(operations.text)")
                #expect(!operations.text.contains(">Operations<"), "an analyst is offered the operations page")

                let journey = try await browser.request(.GET, "/console/journeys/o-1", session: analystKey)
                #expect(journey.status == 200 && !journey.text.contains("Reassign") && !journey.text.contains("planted-secret-comment"))
                let reassign = try await browser.request(.POST, "/console/journeys/o-1/reassign", session: analystKey, form: "owner=mallory")
                #expect(reassign.status == 403)

                let unknown = try await browser.request(.GET, "/console/journeys/nope", session: analystKey)
                #expect(unknown.status == 404 && unknown.text.contains("no journey &#39;nope&#39;") || unknown.text.contains("no journey 'nope'"))
                let badFilter = try await browser.request(.GET, "/console/board?type=order-to-cash&tier=platinum", session: analystKey)
                #expect(badFilter.status == 400 && badFilter.text.contains("tier must be one of"), "\(badFilter.text)")
                let badType = try await browser.request(.GET, "/console/board?type=nope", session: analystKey)
                #expect(badType.status == 404)
                let badDate = try await browser.request(.GET, "/console/consent?subject=c-1&asOf=yesterday", session: analystKey)
                #expect(badDate.status == 400)
            }
        }
    }

    @Test("an operator reassigns from the journey page; a form without this server's Origin is refused and changes nothing")
    func formsAndOrigin() async throws {
        try await ServerFixture.run(console: true) { fixture in
            try await Self.seed(fixture)
            try await fixture.catchUpProjections()
            try await Browser.run(fixture) { browser in
                let operatorKey = fixture.key(.operator)
                for origin in [Optional<String>.none, "https://evil.example"] {
                    let refused = try await browser.request(
                        .POST, "/console/journeys/o-2/reassign", session: operatorKey, form: "owner=mallory", origin: .some(origin))
                    #expect(refused.status == 403, "\(origin ?? "no origin"): \(refused.text)")
                }
                #expect(try await fixture.store.readStream("journey-o-2").events.allSatisfy { $0.type != "OwnerReassigned" })

                let empty = try await browser.request(.POST, "/console/journeys/o-2/reassign", session: operatorKey, form: "owner=")
                #expect(empty.status == 400)
                let done = try await browser.request(.POST, "/console/journeys/o-2/reassign", session: operatorKey, form: "owner=queue%3Asales")
                #expect(done.status == 303 && done.headers.first(name: "location") == "/console/journeys/o-2?done=reassigned", "\(done.text)")
                let events = try await fixture.store.readStream("journey-o-2").events
                let reassigned = try #require(events.last)
                #expect(reassigned.type == "OwnerReassigned" && reassigned.metadata.sourceSystem == "waymark-console")
                #expect(reassigned.metadata.actor == String(operatorKey.split(separator: "_")[1]))
            }
        }
    }

    @Test("a key's console pages count against its rate with its API requests: past it a 429 page with Retry-After; assets are not counted")
    func rateLimited() async throws {
        let clock = Mutex<Double>(0)
        let limit = RateLimit(perSecond: 0.5, burst: 3) { clock.withLock { $0 } }
        try await ServerFixture.run(rateLimit: limit, console: true) { fixture in
            try await fixture.catchUpProjections()
            try await Browser.run(fixture) { browser in
                let analyst = fixture.key(.analyst)
                #expect(try await browser.request(.GET, "/console/escalations", session: analyst).status == 200)
                #expect(try await fixture.request(.GET, "/v1/escalations", key: analyst).status == 200)
                #expect(try await browser.request(.GET, "/console/assets/console.css", session: analyst).status == 200)
                #expect(try await browser.request(.GET, "/console/escalations", session: analyst).status == 200)
                let limited = try await browser.request(.GET, "/console/escalations", session: analyst)
                #expect(limited.status == 429 && limited.contentType?.hasPrefix("text/html") == true, "\(limited.text)")
                #expect(limited.headers.first(name: "retry-after") == "2" && limited.text.contains("try again in 2 s"), "\(limited.text)")
                #expect(try await fixture.request(.GET, "/v1/escalations", key: analyst).status == 429)
                // Another key has its own bucket; the refilled bucket lets the key go again.
                #expect(try await browser.request(.GET, "/console/escalations", session: fixture.key(.operator)).status == 200)
                clock.withLock { $0 += 2 }
                #expect(try await browser.request(.GET, "/console/escalations", session: analyst).status == 200)
            }
        }
    }
}

@Suite("Console: the journey map and flow analytics", .scaledTimeLimit(minutes: 4))
struct ConsoleAnalyticsTests {
    @Test(
        "the map draws every stage of the definition with the views' figures, and each transition's count is what the visits say; flow analytics agrees with the views"
    )
    func mapAndFlow() async throws {
        try await ServerFixture.run(console: true) { fixture in
            _ = try await Simulator(client: fixture.client, logger: TestDatabase.quietLogger).run(
                SimulationOptions(journeys: 80, seed: 7, until: Date(), days: 30, senders: 2, journeysInFlight: 20, journeyTypes: ["order-to-cash"]))
            try await fixture.catchUpProjections()
            try await ConsoleTests.Browser.run(fixture) { browser in
                let key = fixture.key(.analyst)
                let map = try await browser.request(.GET, "/console/map?type=order-to-cash", session: key)
                #expect(map.status == 200, "\(map.text.prefix(300))")
                let definition = try #require(fixture.client.catalog.current("order-to-cash"))
                #expect(map.text.components(separatedBy: "<g class=\"stage").count - 1 == definition.stages.count)
                #expect(map.text.components(separatedBy: "<path class=\"transition").count - 1 == definition.transitions.count)
                // Each transition's count, from the visits directly.
                let analytics = fixture.store.schema + "_analytics"
                let rows = try await fixture.store.pool.query(
                    """
                    SELECT t.stage, t.left_for, count(*)::int8 FROM \(identifier: analytics).time_in_status t
                    WHERE t.journey_type = 'order-to-cash' AND t.left_for IS NOT NULL GROUP BY 1, 2
                    """)
                var checked = 0
                for row in rows {
                    let (from, to, count) = try row.decode(String.self, String.self, Int64.self)
                    guard definition.transition(from: from, to: to) != nil else { continue }
                    #expect(
                        map.text.contains("<tr><td>\(from)</td><td>\(to)</td>") && map.text.contains("</td><td>\(count)</td><td>"), "\(from) → \(to): \(count)")
                    checked += 1
                }
                #expect(checked > 2, "the simulation took too few transitions to check")
                // SLA risk lists exactly the clocks the view calls breached and running, or past 75 %.
                let risky = try await fixture.store.pool.query(
                    """
                    SELECT count(*) FILTER (WHERE state = 'breached-running')::int8,
                           count(*) FILTER (WHERE state IN ('running', 'paused') AND percent_elapsed >= 75)::int8
                    FROM \(identifier: analytics).sla
                    """)
                let (breached, atRisk) = try risky[0].decode(Int64.self, Int64.self)
                let sla = try await browser.request(.GET, "/console/sla", session: key)
                let listed = (
                    sla.text.components(separatedBy: "<tr class=\"breached\">").count - 1, sla.text.components(separatedBy: "<tr class=\"at-risk\">").count - 1
                )
                #expect(breached + atRisk > 0 && breached + atRisk <= 200, "choose a simulation with some clocks at risk, fewer than a page")
                #expect(listed.0 == Int(breached) && listed.1 == Int(atRisk), "listed \(listed), the view says \(breached) breached, \(atRisk) at risk")
                let badVersion = try await browser.request(.GET, "/console/map?type=order-to-cash&version=nope", session: key)
                #expect(badVersion.status == 400)

                let flow = try await browser.request(.GET, "/console/flow?type=order-to-cash", session: key)
                #expect(
                    flow.status == 200 && flow.text.contains("<table class=\"heat compact\">") && flow.text.contains("class=\"bar\""),
                    "\(flow.text.prefix(300))")
                let completed = try await fixture.store.pool.query(
                    "SELECT count(*)::int8 FROM \(identifier: analytics).journeys WHERE journey_type = 'order-to-cash' AND status = 'completed'")
                let completedCount = try completed[0].decode(Int64.self, at: 0)
                if completedCount > 0 { #expect(flow.text.contains("Path through the stages"), "\(completedCount) completed, no variants") }
            }
        }
    }
}

@Suite("Console: the board against every open journey ranked", .scaledTimeLimit(minutes: 4))
struct ConsoleBoardTests {
    /// One stage's column as the board shows it.
    struct Column: Equatable {
        var count = 0
        var stalled = 0
        var breached = 0
        var cards: [String] = []
    }

    @Test(
        "each stage's counts and cards, for every filter, are what ranking all the type's open journeys gives (stalled, then breached, then longest in the stage)"
    )
    func boardMatchesFullRanking() async throws {
        try await ServerFixture.run(console: true) { fixture in
            _ = try await Simulator(client: fixture.client, logger: TestDatabase.quietLogger).run(
                SimulationOptions(journeys: 400, seed: 11, until: Date(), days: 30, senders: 2, journeysInFlight: 40, journeyTypes: ["order-to-cash"]))
            try await fixture.catchUpProjections()
            let analytics = fixture.store.schema + "_analytics"
            let owner = try await fixture.store.pool.query(
                """
                SELECT owner FROM \(identifier: analytics).journeys
                WHERE journey_type = 'order-to-cash' AND ended_at IS NULL AND owner IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1
                """
            ).first?.decode(String.self, at: 0)
            let filters: [(query: String, condition: PostgresQuery)] =
                [
                    ("", "true"), ("&tier=standard", "j.tier = 'standard'"), ("&status=stalled", "j.status = 'stalled'"),
                    ("&status=waiting_on_customer", "j.status = 'waiting_on_customer'"),
                ] + (owner.map { [("&owner=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)", "j.owner = \($0)")] } ?? [])
            var crowded = false
            try await ConsoleTests.Browser.run(fixture) { browser in
                for filter in filters {
                    // The statuses move with the clock: compare only when the ranking was the same
                    // before and after the page.
                    var compared = false
                    for _ in 0..<3 where !compared {
                        let before = try await Self.ranked(fixture, analytics: analytics, condition: filter.condition)
                        let page = try await browser.request(.GET, "/console/board?type=order-to-cash" + filter.query, session: fixture.key(.analyst))
                        let after = try await Self.ranked(fixture, analytics: analytics, condition: filter.condition)
                        guard before == after else { continue }
                        #expect(page.status == 200)
                        #expect(Self.columns(page.text) == before, "filter '\(filter.query)'")
                        compared = true
                        if filter.query.isEmpty {
                            crowded = before.values.contains { $0.count > 12 && $0.stalled > 0 && $0.breached > 0 }
                        }
                    }
                    #expect(compared, "the ranking kept moving under filter '\(filter.query)'")
                }
            }
            #expect(crowded, "no stage with more than a column's cards, stalled and breached ones: the simulation checks too little")
        }
    }

    /// Every open journey of the type ranked per stage, as the board's order is defined.
    static func ranked(_ fixture: ServerFixture, analytics: String, condition: PostgresQuery) async throws -> [String: Column] {
        let rows = try await fixture.store.pool.query(
            """
            WITH open AS (
              SELECT j.journey_id, j.stage, j.status, j.stage_entered_at,
                     EXISTS (SELECT 1 FROM \(identifier: analytics).sla s
                             WHERE s.journey_id = j.journey_id AND s.stopped_at IS NULL AND s.state = 'breached-running') AS breached
              FROM \(identifier: analytics).journeys j
              WHERE j.journey_type = 'order-to-cash' AND j.ended_at IS NULL AND \(condition)
            )
            SELECT stage, journey_id, status = 'stalled', breached,
                   row_number() OVER (PARTITION BY stage ORDER BY status = 'stalled' DESC, breached DESC, stage_entered_at, journey_id)::int8
            FROM open ORDER BY 1, 5
            """)
        var columns: [String: Column] = [:]
        for row in rows {
            let (stage, journey, stalled, breached, rank) = try row.decode(String.self, String.self, Bool.self, Bool.self, Int64.self)
            columns[stage, default: Column()].count += 1
            if stalled { columns[stage]!.stalled += 1 }
            if breached { columns[stage]!.breached += 1 }
            if rank <= 12 { columns[stage]!.cards.append(journey) }
        }
        return columns
    }

    /// The columns the page shows, by stage (columns without journeys left out).
    static func columns(_ html: String) -> [String: Column] {
        var columns: [String: Column] = [:]
        for section in html.components(separatedBy: "<section class=\"column\" aria-labelledby=\"stage-").dropFirst() {
            let stage = String(section.prefix { $0 != "\"" })
            func number(after marker: String) -> Int {
                guard let start = section.range(of: marker) else { return 0 }
                return Int(section[start.upperBound...].prefix { $0.isNumber }) ?? 0
            }
            var column = Column()
            column.count = number(after: #"<span class="count" title="open journeys">"#)
            column.stalled = number(after: #"<span class="stalled-text">"#)
            column.breached = number(after: #"<span class="breached-text">"#)
            column.cards = section.components(separatedBy: "data-journey=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
            if column.count > 0 { columns[stage] = column }
        }
        return columns
    }
}
