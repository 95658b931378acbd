import Foundation
import Hummingbird
import WaymarkDomain
import WaymarkPostgres
import WaymarkServer

/// A subject's consents: now, with each downstream system's propagation, or as of an instant.
struct ConsentPage {
    struct Decision {
        var purpose: String
        var channel: String
        var status: String
        var granted: Bool
        var legalBasis: String
        var noticeVersion: String
        var decidedAt: String
        var expiresAt: String
    }
    struct Propagation {
        var purpose: String
        var channel: String
        var system: String
        var state: String
        var decision: String
        var updatedAt: String
        var took: String
        var overdue: Bool
        var failed: Bool
    }
    var subject: String
    var asOf: String
    var asked: Bool
    var decisions: [Decision]
    var propagation: [Propagation]
    var showPropagation: Bool
}

extension Console {
    func addConsentRoutes(to group: RouterGroup<ApiContext>) {
        group.get("consent") { request, context in
            _ = try context.require(Self.readers)
            return try render("consent", title: "Consent", page: try await consent(request), context: context, current: "consent")
        }
    }

    func consent(_ request: Request) async throws -> ConsentPage {
        let subject = try Self.text(request, "subject")
        let asOfText = try Self.text(request, "asOf")
        var asOf: Date?
        if let asOfText {
            // A date alone means the end of that day (UTC), as a person asking "as of 3 March" means.
            if asOfText.range(of: #"^\d{4}-\d{2}-\d{2}$"#, options: .regularExpression) != nil, let day = RFC3339.date(asOfText + "T23:59:59.999999Z") {
                asOf = day
            } else if let instant = RFC3339.date(asOfText) {
                asOf = instant
            } else {
                throw ApiError(.invalidValue, "as of must be a date (2026-03-03) or an RFC 3339 time, not '\(asOfText.prefix(60))'", field: "query.asOf")
            }
        }
        var page = ConsentPage(
            subject: subject ?? "", asOf: asOfText ?? "", asked: subject != nil, decisions: [], propagation: [], showPropagation: asOf == nil)
        guard let subject else { return page }
        let instant = asOf
        let (consents, history, propagation) = (api.view("consents"), api.view("consent_history"), api.view("consent_propagation"))
        let (decisions, systems) = try await api.readViews { transaction in
            if let asOf = instant {
                return (
                    Array(
                        try await transaction.query(
                            """
                            SELECT purpose, channel, status, coalesce(legal_basis, '') AS legal_basis, coalesce(notice_version, '') AS notice_version,
                                   valid_from AS decided_at, expires_at
                            FROM \(history) WHERE subject_id = \(subject) AND valid_from <= \(asOf) AND (valid_to IS NULL OR valid_to > \(asOf))
                            ORDER BY purpose, channel
                            """)), [PostgresRow]()
                )
            }
            return (
                Array(
                    try await transaction.query(
                        """
                        SELECT purpose, channel, status, coalesce(legal_basis, '') AS legal_basis, coalesce(notice_version, '') AS notice_version,
                               decided_at, expires_at
                        FROM \(consents) WHERE subject_id = \(subject) ORDER BY purpose, channel
                        """)),
                Array(
                    try await transaction.query(
                        """
                        SELECT purpose, channel, system, state, decision, updated_at, extract(epoch FROM took)::float8 AS took, overdue
                        FROM \(propagation) WHERE subject_id = \(subject) ORDER BY purpose, channel, system
                        """))
            )
        }
        page.decisions = try decisions.map { row in
            let status = try row.decode(String.self, column: "status")
            return .init(
                purpose: try row.decode(String.self, column: "purpose"), channel: try row.decode(String.self, column: "channel"), status: status,
                granted: status == "granted", legalBasis: Formatting.words(try row.decode(String.self, column: "legal_basis")),
                noticeVersion: try row.decode(String.self, column: "notice_version"),
                decidedAt: Formatting.time(try row.decode(Date?.self, column: "decided_at")),
                expiresAt: Formatting.time(try row.decode(Date?.self, column: "expires_at")))
        }
        page.propagation = try systems.map { row in
            let state = try row.decode(String.self, column: "state")
            return .init(
                purpose: try row.decode(String.self, column: "purpose"), channel: try row.decode(String.self, column: "channel"),
                system: try row.decode(String.self, column: "system"), state: state, decision: try row.decode(String.self, column: "decision"),
                updatedAt: Formatting.time(try row.decode(Date?.self, column: "updated_at")),
                took: Formatting.duration(try row.decode(Double?.self, column: "took")),
                overdue: try row.decode(Bool?.self, column: "overdue") ?? false, failed: state == "failed")
        }
        return page
    }
}
