import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// What each subject consented to (`analytics.consents`: a row per subject and configured purpose
/// and channel, `not asked` included), every answer as it stood over time
/// (`analytics.consent_history`, for as-of queries) and whether each downstream system applied it
/// (`analytics.consent_propagation`).
///
/// Subjects are the registered customers and anyone with a consent stream. The purposes, channels
/// and downstream systems come from `config/consent.yaml`, copied into a table of the build; a
/// decision makes every downstream system of its purpose `pending` until the system reports it
/// applied (or failed to apply) that decision, the last report counting; a report about an older
/// decision leaves the current one pending, and one from a system the purpose does not list is left
/// out. `expired` is computed when read from `expires_at` and `now()`. A system the process manager
/// found late (`ConsentPropagationOverdue` on the current decision) shows `overdue` until it reports
/// the decision applied; `overdue_since` keeps the due time it missed.
public struct ConsentProjection: Projection {
    public let name = "consent"
    /// 2: reports from systems the purpose does not list are left out, and a failure replaces an
    /// earlier acknowledgement of the same decision. 3: `overdue` and `overdue_since` per decision
    /// and system, from the process manager's `ConsentPropagationOverdue`.
    public let version = 3
    public let source = SubscriptionSource.categories([ConsentDecider.category, CustomerDecider.category])
    let purposes: [String: ConsentPurpose]

    /// How the log's events are read: where sealed personal fields are opened.
    public let codec: EventCodec

    public init(catalog: JourneyCatalog, codec: EventCodec = .standard) {
        purposes = catalog.consentPurposes
        self.codec = codec
    }

    public func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await transaction.execute("CREATE TABLE \(tables.name("subjects")) (subject_id text PRIMARY KEY, first_seen_at timestamptz NOT NULL)")
        try await transaction.execute(
            "CREATE TABLE \(tables.name("scopes")) (purpose text NOT NULL, channel text NOT NULL, downstream text[] NOT NULL, PRIMARY KEY (purpose, channel))")
        let scopes = purposes.values.flatMap { purpose in purpose.channels.map { (purpose.name, $0, purpose.downstream) } }
        for (purpose, channel, downstream) in scopes {
            try await transaction.execute("INSERT INTO \(tables.name("scopes")) VALUES (\(purpose), \(channel), \(PostgresArray(downstream))::text[])")
        }
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("consents")) (
                subject_id text NOT NULL,
                purpose text NOT NULL,
                channel text NOT NULL,
                status text NOT NULL,
                legal_basis text,
                notice_version text,
                collection_point text,
                proof_reference text NOT NULL,
                granted_at timestamptz,
                refused_at timestamptz,
                withdrawn_at timestamptz,
                expires_at timestamptz,
                decided_at timestamptz NOT NULL,
                event_id uuid NOT NULL,
                stream_version bigint NOT NULL,
                PRIMARY KEY (subject_id, purpose, channel)
            )
            """)
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("history")) (
                subject_id text NOT NULL,
                stream_version bigint NOT NULL,
                purpose text NOT NULL,
                channel text NOT NULL,
                status text NOT NULL,
                legal_basis text,
                notice_version text,
                collection_point text,
                proof_reference text NOT NULL,
                expires_at timestamptz,
                decided_at timestamptz NOT NULL,
                event_id uuid NOT NULL,
                PRIMARY KEY (subject_id, stream_version)
            )
            """)
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("propagations")) (
                subject_id text NOT NULL,
                purpose text NOT NULL,
                channel text NOT NULL,
                system text NOT NULL,
                decision_event_id uuid NOT NULL,
                state text NOT NULL,
                requested_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                acknowledgement text,
                error text,
                overdue_since timestamptz,
                PRIMARY KEY (subject_id, purpose, channel, system)
            )
            """)
    }

    public func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] {
        [
            (
                "consents",
                """
                SELECT s.subject_id, q.purpose, q.channel,
                    CASE WHEN c.status IS NULL THEN 'not asked' WHEN c.status = 'granted' AND c.expires_at <= now() THEN 'expired' ELSE c.status END AS status,
                    c.legal_basis, c.notice_version, c.collection_point, c.proof_reference, c.granted_at, c.refused_at, c.withdrawn_at, c.expires_at,
                    c.decided_at, c.event_id AS proof_event_id,
                    coalesce((SELECT jsonb_object_agg(p.system, jsonb_build_object('state', p.state, 'at', p.updated_at, 'acknowledgement', p.acknowledgement,
                                                                                   'error', p.error, 'overdue', \(Self.overdue)))
                              FROM \(tables.name("propagations")) p
                              WHERE (p.subject_id, p.purpose, p.channel) = (s.subject_id, q.purpose, q.channel)), '{}') AS propagation
                FROM \(tables.name("subjects")) s CROSS JOIN \(tables.name("scopes")) q
                LEFT JOIN \(tables.name("consents")) c ON (c.subject_id, c.purpose, c.channel) = (s.subject_id, q.purpose, q.channel)
                """
            ),
            (
                "consent_history",
                // An answer holds from its decision until the next one for the same question.
                """
                SELECT subject_id, purpose, channel, status, legal_basis, notice_version, collection_point, proof_reference, expires_at,
                    decided_at AS valid_from,
                    lead(decided_at) OVER (PARTITION BY subject_id, purpose, channel ORDER BY stream_version) AS valid_to,
                    event_id AS proof_event_id
                FROM \(tables.name("history"))
                """
            ),
            (
                "consent_propagation",
                """
                SELECT p.subject_id, p.purpose, p.channel, p.system, p.state, p.decision_event_id, p.requested_at, p.updated_at,
                    CASE WHEN p.state = 'pending' THEN NULL ELSE p.updated_at - p.requested_at END AS took,
                    p.acknowledgement, p.error, c.status AS decision, \(Self.overdue) AS overdue, p.overdue_since
                FROM \(tables.name("propagations")) p
                JOIN \(tables.name("consents")) c ON (c.subject_id, c.purpose, c.channel) = (p.subject_id, p.purpose, p.channel)
                """
            ),
        ]
    }

    /// Overdue: the process manager found the decision not applied by its due time, and the
    /// system has not applied it since.
    static let overdue: PostgresQuery = "(p.overdue_since IS NOT NULL AND p.state <> 'applied')"

    /// A subject's current answer to one question, as stored.
    struct Answer {
        var status: String
        var record: ConsentRecord?
        var proofReference: String
        var grantedAt: Date?
        var refusedAt: Date?
        var withdrawnAt: Date?
        var decidedAt: Date
        var eventId: UUID
        var streamVersion: Int64
    }

    struct Propagation {
        var decision: UUID
        var state: String
        var requestedAt: Date
        var updatedAt: Date
        var acknowledgement: String?
        var error: String?
        /// The due time the process manager found missed.
        var overdueSince: Date?
    }

    public func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        let batch = try DecodedBatch(events) { event in
            event.type == "CustomerRegistered"
                ? .registered : try ConsentEvent.decode(type: event.type, data: event.data, codec: codec).map(ConsentInput.consent)
        }
        guard !batch.events.isEmpty else { return batch.ignored }
        var subjects: [String: Date] = [:]
        var answers: [Key: Answer] = [:]
        var history = CopyBinary()
        var propagations: [PropagationKey: Propagation] = [:]
        var newScopes = Set<[String]>()
        // Only subjects whose consent stream began before the batch can have stored answers.
        try await load(batch.idsStoredBefore { if case .consent = $0 { true } else { false } }, tables, transaction, into: &answers, &propagations)
        let stored = (answers: Set(answers.keys), propagations: Set(propagations.keys))
        var changed = (answers: Set<Key>(), propagations: Set<PropagationKey>())
        for (recorded, subjectId, input) in batch.events {
            let at = recorded.occurredAt
            subjects[subjectId] = min(subjects[subjectId] ?? at, at)
            guard case .consent(let event) = input else { continue }
            let scope: ConsentScope
            var answer: Answer
            switch event {
            case .given(let record), .refused(let record):
                scope = record.scope
                let granted: Bool
                if case .given = event { granted = true } else { granted = false }
                let previous = answers[Key(subjectId, scope)]
                answer = Answer(
                    status: granted ? "granted" : "refused", record: record, proofReference: record.proofReference,
                    grantedAt: granted ? at : previous?.grantedAt, refusedAt: granted ? previous?.refusedAt : at, withdrawnAt: previous?.withdrawnAt,
                    decidedAt: at, eventId: recorded.id, streamVersion: recorded.streamVersion)
            case .withdrawn(let withdrawn):
                scope = withdrawn.scope
                guard var previous = answers[Key(subjectId, scope)] else {
                    throw ProjectionError(recorded, "consent for \(scope) is withdrawn but was never given")
                }
                previous.status = "withdrawn"
                previous.proofReference = withdrawn.proofReference
                previous.withdrawnAt = at
                previous.decidedAt = at
                previous.eventId = recorded.id
                previous.streamVersion = recorded.streamVersion
                answer = previous
            case .propagated(let report), .propagationFailed(let report):
                let key = PropagationKey(subjectId, report.scope, report.system)
                // A report on a decision since superseded leaves the current one's state alone, and
                // so does one from a system the purpose does not list (the decider refuses those
                // now; the log may hold some from before).
                guard answers[Key(subjectId, report.scope)]?.eventId == report.decision,
                    purposes[report.scope.purpose]?.downstream.contains(report.system) == true
                else { continue }
                var propagation = propagations[key] ?? Propagation(decision: report.decision, state: "pending", requestedAt: at, updatedAt: at)
                if case .propagated = event {
                    propagation.state = "applied"
                    propagation.acknowledgement = report.acknowledgement
                    propagation.error = nil
                } else {
                    // The failure replaces an earlier acknowledgement of the same decision.
                    propagation.state = "failed"
                    propagation.acknowledgement = nil
                    propagation.error = report.error
                }
                propagation.updatedAt = at
                propagations[key] = propagation
                changed.propagations.insert(key)
                continue
            case .propagationOverdue(let overdue):
                // Only the current decision's state shows it (a newer decision started afresh).
                let key = PropagationKey(subjectId, overdue.scope, overdue.system)
                guard var propagation = propagations[key], propagation.decision == overdue.decision else { continue }
                propagation.overdueSince = overdue.dueAt
                propagations[key] = propagation
                changed.propagations.insert(key)
                continue
            }
            answers[Key(subjectId, scope)] = answer
            changed.answers.insert(Key(subjectId, scope))
            Self.writeHistory(subjectId, scope, answer, into: &history)
            newScopes.insert([scope.purpose, scope.channel])
            for system in purposes[scope.purpose]?.downstream ?? [] {
                let key = PropagationKey(subjectId, scope, system)
                propagations[key] = Propagation(decision: recorded.id, state: "pending", requestedAt: at, updatedAt: at)
                changed.propagations.insert(key)
            }
        }
        try await transaction.execute(
            """
            INSERT INTO \(tables.name("subjects")) SELECT * FROM unnest(\(PostgresArray(Array(subjects.keys)))::text[], \(PostgresArray(subjects.values.map(TimestampText.iso8601)))::timestamptz[])
            ON CONFLICT (subject_id) DO UPDATE SET first_seen_at = least(EXCLUDED.first_seen_at, \(tables.name("subjects")).first_seen_at)
            """)
        // A question asked that consent.yaml does not list still gets its row, with no downstream systems.
        let asked = Array(newScopes)
        try await transaction.execute(
            """
            INSERT INTO \(tables.name("scopes")) SELECT purpose, channel, '{}'
            FROM unnest(\(PostgresArray(asked.map { $0[0] }))::text[], \(PostgresArray(asked.map { $0[1] }))::text[]) AS asked (purpose, channel)
            ON CONFLICT (purpose, channel) DO NOTHING
            """)
        // Answers and propagations not stored before go straight in; history rows are all new (each
        // is an event after the checkpoint), so the table's key refuses any it already holds.
        try await StagedUpsert(tables: tables, table: "consents", columns: Self.consentColumns, key: ["subject_id", "purpose", "channel"])
            .write(changed.answers, isNew: { !stored.answers.contains($0) }, in: transaction) { Self.writeConsent($0, answers[$0]!, into: &$1) }
        try await StagedUpsert(tables: tables, table: "history", columns: Self.historyColumns, key: ["subject_id", "stream_version"])
            .insert(history, in: transaction)
        try await StagedUpsert(
            tables: tables, table: "propagations", columns: Self.propagationColumns, key: ["subject_id", "purpose", "channel", "system"]
        )
        .write(changed.propagations, isNew: { !stored.propagations.contains($0) }, in: transaction) {
            Self.writePropagation($0, propagations[$0]!, into: &$1)
        }
        return batch.ignored
    }

    enum ConsentInput {
        case registered
        case consent(ConsentEvent)
    }

    struct Key: Hashable {
        var subject: String
        var purpose: String
        var channel: String
        init(_ subject: String, _ scope: ConsentScope) { (self.subject, purpose, channel) = (subject, scope.purpose, scope.channel) }
    }

    struct PropagationKey: Hashable {
        var question: Key
        var system: String
        init(_ subject: String, _ scope: ConsentScope, _ system: String) { (question, self.system) = (Key(subject, scope), system) }
    }

    static let consentColumns = [
        "subject_id", "purpose", "channel", "status", "legal_basis", "notice_version", "collection_point", "proof_reference", "granted_at", "refused_at",
        "withdrawn_at", "expires_at", "decided_at", "event_id", "stream_version",
    ]

    static func writeConsent(_ key: Key, _ answer: Answer, into rows: inout CopyBinary) {
        for text in [key.subject, key.purpose, key.channel, answer.status] { rows.append(text) }
        rows.append(answer.record?.legalBasis.rawValue)
        rows.append(answer.record?.noticeVersion)
        rows.append(answer.record?.collectionPoint)
        rows.append(answer.proofReference)
        for time in [answer.grantedAt, answer.refusedAt, answer.withdrawnAt, answer.record?.expiresAt, answer.decidedAt] { rows.append(time) }
        rows.append(answer.eventId)
        rows.append(bigint: answer.streamVersion)
        rows.endRow()
    }

    static let historyColumns = [
        "subject_id", "stream_version", "purpose", "channel", "status", "legal_basis", "notice_version", "collection_point", "proof_reference",
        "expires_at", "decided_at", "event_id",
    ]

    static func writeHistory(_ subject: String, _ scope: ConsentScope, _ answer: Answer, into rows: inout CopyBinary) {
        rows.append(subject)
        rows.append(bigint: answer.streamVersion)
        for text in [scope.purpose, scope.channel, answer.status] { rows.append(text) }
        rows.append(answer.record?.legalBasis.rawValue)
        rows.append(answer.record?.noticeVersion)
        rows.append(answer.record?.collectionPoint)
        rows.append(answer.proofReference)
        rows.append(answer.record?.expiresAt)
        rows.append(answer.decidedAt)
        rows.append(answer.eventId)
        rows.endRow()
    }

    static let propagationColumns = [
        "subject_id", "purpose", "channel", "system", "decision_event_id", "state", "requested_at", "updated_at", "acknowledgement", "error",
        "overdue_since",
    ]

    static func writePropagation(_ key: PropagationKey, _ propagation: Propagation, into rows: inout CopyBinary) {
        for text in [key.question.subject, key.question.purpose, key.question.channel, key.system] { rows.append(text) }
        rows.append(propagation.decision)
        rows.append(propagation.state)
        rows.append(propagation.requestedAt)
        rows.append(propagation.updatedAt)
        rows.append(propagation.acknowledgement)
        rows.append(propagation.error)
        rows.append(propagation.overdueSince)
        rows.endRow()
    }

    /// The stored answers and propagations of `subjects`.
    private func load(
        _ subjects: [String], _ tables: ProjectionTables, _ transaction: Transaction, into answers: inout [Key: Answer],
        _ propagations: inout [PropagationKey: Propagation]
    ) async throws {
        guard !subjects.isEmpty else { return }
        let ids = PostgresArray(subjects)
        for row in try await transaction.query(
            """
            SELECT subject_id, purpose, channel, status, legal_basis, notice_version, collection_point, proof_reference,
                granted_at, refused_at, withdrawn_at, expires_at, decided_at, event_id, stream_version
            FROM \(tables.name("consents")) WHERE subject_id = ANY(\(ids)::text[])
            """)
        {
            let scope = ConsentScope(purpose: try row.decode(String.self, at: 1), channel: try row.decode(String.self, at: 2))
            let date = { (index: Int) in try row.decode(Date?.self, at: index) }
            var record: ConsentRecord?
            if let basis = try row.decode(String?.self, at: 4).flatMap(LegalBasis.init(rawValue:)) {
                record = ConsentRecord(
                    scope: scope, legalBasis: basis, noticeVersion: try row.decode(String?.self, at: 5) ?? "",
                    collectionPoint: try row.decode(String?.self, at: 6) ?? "", proofReference: try row.decode(String.self, at: 7), expiresAt: try date(11))
            }
            answers[Key(try row.decode(String.self, at: 0), scope)] = Answer(
                status: try row.decode(String.self, at: 3), record: record, proofReference: try row.decode(String.self, at: 7), grantedAt: try date(8),
                refusedAt: try date(9), withdrawnAt: try date(10), decidedAt: try row.decode(Date.self, at: 12),
                eventId: try row.decode(UUID.self, at: 13), streamVersion: try row.decode(Int64.self, at: 14))
        }
        for row in try await transaction.query(
            """
            SELECT subject_id, purpose, channel, system, decision_event_id, state, requested_at, updated_at, acknowledgement, error, overdue_since
            FROM \(tables.name("propagations")) WHERE subject_id = ANY(\(ids)::text[])
            """)
        {
            let scope = ConsentScope(purpose: try row.decode(String.self, at: 1), channel: try row.decode(String.self, at: 2))
            propagations[PropagationKey(try row.decode(String.self, at: 0), scope, try row.decode(String.self, at: 3))] = Propagation(
                decision: try row.decode(UUID.self, at: 4), state: try row.decode(String.self, at: 5),
                requestedAt: try row.decode(Date.self, at: 6), updatedAt: try row.decode(Date.self, at: 7),
                acknowledgement: try row.decode(String?.self, at: 8),
                error: try row.decode(String?.self, at: 9), overdueSince: try row.decode(Date?.self, at: 10))
        }
    }
}
