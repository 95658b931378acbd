import CLibPQ
import Foundation
import Synchronization

/// One libpq connection.
///
/// Every libpq call runs on the connection's own thread (`executor`), never on Swift's cooperative
/// pool: inline when the calling task already runs there (the pool arranges that while a task
/// holds the connection), else handed over. A connection serves one task at a time: the pool
/// leases it out exclusively.
public final class PostgresConnection: @unchecked Sendable {
    // @unchecked Sendable: the PGconn, the statement cache and the session state beside it (the
    // server's start time, the after-commit hooks) are touched only by the task that holds the
    // connection's lease, one call at a time, each call running to completion on the connection's
    // thread while that task awaits it. No two calls on one connection overlap.
    private var pg: OpaquePointer?
    /// The thread that runs this connection's libpq calls; a task executor for its leaseholder.
    public let executor: ConnectionThread
    /// Prepared statements by SQL text: the parameter types they were prepared with, and their name.
    private var statements: [String: [(types: [Oid], name: String)]] = [:]
    private var statementCounter = 0
    private var cachedServerStartTime: String?
    /// Set while `transaction(_:)` runs its body; what to do once that transaction has committed.
    private var managedTransaction = false
    /// The BEGIN of a transaction that `transaction(_:)` opened and that has not reached the server
    /// yet: it travels with the transaction's first statement, in one round trip.
    private var pendingBegin: String?
    private var commitHooks: [@Sendable () -> Void] = []
    /// Notices and warnings the server sent; libpq's default would print them to stderr.
    private let notices = NoticeLog()
    private let canceller: QueryCanceller
    /// The pool's reactor, which awaits replies to statements sent from another thread than the
    /// connection's; without one, such statements are handed to the connection's thread.
    private let reactor: ReplyReactor?
    private let socket: Int32
    /// Whether `socket` still belongs to this connection: `abort()` must not shut down a number
    /// that `PQfinish` released and another connection may have been given.
    private let socketOpen = Mutex(true)

    private init(pg: OpaquePointer, executor: ConnectionThread, reactor: ReplyReactor?) throws {
        self.pg = pg
        self.executor = executor
        self.canceller = QueryCanceller(pg)
        self.socket = PQsocket(pg)
        try reactor?.register(socket)
        self.reactor = reactor
        PQsetNoticeReceiver(
            pg,
            { context, result in
                guard let context, let result else { return }
                let log = Unmanaged<NoticeLog>.fromOpaque(context).takeUnretainedValue()
                let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V"))).map { String(cString: $0) } ?? "NOTICE"
                let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? ""
                log.append(PostgresNotice(severity: severity, message: message))
            }, Unmanaged.passUnretained(notices).toOpaque())
    }

    deinit {
        if let pg {
            reactor?.unregister(socket)
            PQfinish(pg)
        }
        executor.shutdown()
    }

    /// Opens a connection on a thread of its own, which runs the blocking connect.
    public static func connect(_ configuration: PostgresConfiguration) async throws -> PostgresConnection {
        try await connect(configuration, reactor: nil)
    }

    static func connect(_ configuration: PostgresConfiguration, reactor: ReplyReactor?) async throws -> PostgresConnection {
        let executor = ConnectionThread(name: "waymark-pg")
        do {
            let pointer = try await executor.run { () throws -> UnsafeSendablePointer in
                try UnsafeSendablePointer(connectBlocking(configuration))
            }
            do {
                return try PostgresConnection(pg: pointer.pointer, executor: executor, reactor: reactor)
            } catch {
                PQfinish(pointer.pointer)
                throw error
            }
        } catch {
            executor.shutdown()
            throw error
        }
    }

    /// Opens a raw libpq connection on the calling thread, which it blocks; the caller owns it and
    /// must `PQfinish` it. For tools that drive libpq directly (the listener, a benchmark baseline).
    public static func connectBlocking(_ configuration: PostgresConfiguration) throws -> OpaquePointer {
        let keywords = ["dbname", "application_name", "options", "connect_timeout", "client_encoding"]
        let values = [
            configuration.url, configuration.applicationName, configuration.sessionOptions,
            String(configuration.connectTimeoutSeconds), "UTF8",
        ]
        let cKeywords = keywords.map { strdup($0) } + [nil]
        let cValues = values.map { strdup($0) } + [nil]
        defer {
            cKeywords.forEach { free($0) }
            cValues.forEach { free($0) }
        }
        let conn = cKeywords.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
            cValues.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 1)
            }
        }
        guard let conn else {
            throw PostgresError(code: PostgresError.connectionFailure, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn)).trimmingWhitespace()
            PQfinish(conn)
            throw PostgresError(
                code: PostgresError.connectionFailure,
                message: "cannot connect to PostgreSQL at \(redactedURL(configuration.url)): \(message)")
        }
        return conn
    }

    /// The URL with any password replaced by `***`, for messages and logs.
    public static func redactedURL(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"), let at = url[schemeEnd.upperBound...].firstIndex(of: "@") else {
            return url.replacingOccurrences(of: #"password\s*=\s*\S+"#, with: "password=***", options: .regularExpression)
        }
        // A password may also be a query parameter (`?password=…`).
        let redactedQuery = url.replacingOccurrences(of: #"([?&])password=[^&]*"#, with: "$1password=***", options: .regularExpression)
        let userInfo = url[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return redactedQuery }
        return String(url[..<colon]) + ":***" + String(redactedQuery[redactedQuery.firstIndex(of: "@")!...])
    }

    /// Whether libpq still considers the connection usable.
    public var isHealthy: Bool {
        guard let pg else { return false }
        return PQstatus(pg) == CONNECTION_OK
    }

    /// Whether a statement on this connection was cancelled: a late cancel request could still
    /// reach the server, so the connection is not reused.
    public var wasCancelled: Bool { canceller.wasUsed }

    /// Whether the connection is idle outside any transaction.
    public var isIdle: Bool {
        guard let pg, pendingBegin == nil else { return false }
        return PQtransactionStatus(pg) == PQTRANS_IDLE
    }

    /// When the server process behind this connection started (`pg_postmaster_start_time()`, as
    /// text), asked once per connection. It identifies the server incarnation: a restart, a
    /// failover to another server or a restore from backup changes it. Callers that keep facts
    /// learned from the database (a cache) tag them with it and can have the server check the tag.
    public func serverStartTime() async throws -> String {
        if let cachedServerStartTime { return cachedServerStartTime }
        let value = try await query("SELECT pg_postmaster_start_time()::text")[0].decode(String.self, at: 0)
        cachedServerStartTime = value
        return value
    }

    /// Takes the notices (NOTICE, WARNING, …) the server sent on this connection since the last call,
    /// oldest first; at most the latest 1,000 are kept.
    public func takeNotices() -> [PostgresNotice] {
        notices.take()
    }

    /// Forgets the cached `serverStartTime()`, for example after the server refused a tag made from
    /// it (a connection pooler between us and the server may have moved us to another one).
    public func forgetServerStartTime() {
        cachedServerStartTime = nil
    }

    // MARK: Queries

    /// Runs one statement (prepared once per connection and cached) and returns its rows.
    ///
    /// Cancelling the calling task cancels the statement on the server (libpq's cancel request)
    /// and throws `PostgresError.cancelled`.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        if let problem = query.problem { throw problem }
        if Task.isCancelled { throw PostgresError.cancellation("before the statement was sent") }
        let sql = query.sql
        let binds = try EncodedBinds(query.binds, sql: sql)
        let canceller = self.canceller
        do {
            let handle = try await withTaskCancellationHandler {
                if let reactor, !executor.isCurrent {
                    canceller.begin()
                    defer { canceller.end() }
                    if let handle = try await executeAwaitingReply(sql, binds, reactor: reactor) { return handle }
                }
                return try await executor.run { [self] in
                    canceller.begin()
                    defer { canceller.end() }
                    return try self.executeBlocking(sql, binds)
                }
            } onCancel: {
                canceller.cancel()
            }
            return PostgresRows(handle: handle)
        } catch let error as PostgresError where error.code == SQLState.queryCanceled && canceller.wasUsed {
            throw PostgresError.cancellation("while the statement ran; the server cancelled it")
        }
    }

    /// Runs one statement and returns the number of rows it touched.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await self.query(query).affectedRows
    }

    /// Runs a script of one or more statements with the simple protocol. It takes no binds: use it
    /// only for fixed SQL such as migrations and transaction control.
    public func runScript(_ sql: String) async throws {
        _ = try await executor.run { [self] in try self.simpleBlocking(self.takingPendingBegin(sql)) }
    }

    /// `sql` preceded by a transaction's pending BEGIN, if there is one.
    private func takingPendingBegin(_ sql: String) -> String {
        guard let begin = pendingBegin else { return sql }
        pendingBegin = nil
        return begin + "; " + sql
    }

    private func requireConnection() throws -> OpaquePointer {
        guard let pg else { throw PostgresError(code: PostgresError.closed, message: "the connection is closed") }
        return pg
    }

    private func simpleBlocking(_ sql: String) throws -> String {
        let pg = try requireConnection()
        guard let result = PQexec(pg, sql) else { throw PostgresError.from(result: nil, connection: pg, statement: sql) }
        let handle = ResultHandle(result)
        try check(handle, sql: sql)
        return String(cString: PQcmdStatus(result))
    }

    private func check(_ handle: ResultHandle, sql: String) throws {
        switch PQresultStatus(handle.pointer) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN:
            return
        default:
            throw PostgresError.from(result: handle.pointer, connection: pg, statement: sql)
        }
    }

    private func executeBlocking(_ sql: String, _ binds: EncodedBinds) throws -> ResultHandle {
        let pg = try requireConnection()
        var attempt = 0
        while true {
            attempt += 1
            let name = try preparedName(sql: sql, oids: binds.oids, pg: pg)
            let begin = pendingBegin
            pendingBegin = nil
            let result: OpaquePointer? = binds.withValues { count, values in
                if let begin { return Self.pipelined(pg, begin: begin, statement: name, count: count, values: values) }
                return PQexecPrepared(pg, name, count, values, nil, nil, 0)
            }
            guard let result else { throw PostgresError.from(result: nil, connection: pg, statement: sql) }
            let handle = ResultHandle(result)
            do {
                try check(handle, sql: sql)
                return handle
            } catch let error as PostgresError where Self.isStalePlan(error) && attempt == 1 {
                if PQtransactionStatus(pg) != PQTRANS_IDLE { throw error }
                forgetStatement(sql: sql, name: name)
            }
        }
    }

    /// The schema changed under a cached plan: outside a transaction the statement is prepared
    /// again, once.
    private static func isStalePlan(_ error: PostgresError) -> Bool {
        error.code == SQLState.featureNotSupported && error.message.contains("cached plan")
    }

    private func forgetStatement(sql: String, name: String) {
        _ = try? simpleBlocking("DEALLOCATE \(name)")
        statements[sql]?.removeAll { $0.name == name }
    }

    /// Sends a statement prepared before on this connection from the calling thread, and awaits
    /// its reply through the pool's reactor instead of blocking a thread on it. Nil when the
    /// statement has to take the blocking path (not prepared yet, a BEGIN to send with it).
    private func executeAwaitingReply(_ sql: String, _ binds: EncodedBinds, reactor: ReplyReactor) async throws -> ResultHandle? {
        let pg = try requireConnection()
        guard pendingBegin == nil, let name = cachedStatementName(sql: sql, oids: binds.oids) else { return nil }
        let sent = binds.withValues { count, values in PQsendQueryPrepared(pg, name, count, values, nil, nil, 0) }
        guard sent == 1 else { throw PostgresError.from(result: nil, connection: pg, statement: sql) }
        // A statement's reply is one result, then NULL; keep the first one and drain the rest.
        var handle: ResultHandle?
        while true {
            try await reactor.awaitReadable(socket)
            guard PQconsumeInput(pg) == 1 else { throw PostgresError.from(result: nil, connection: pg, statement: sql) }
            while PQisBusy(pg) == 0 {
                guard let result = PQgetResult(pg) else {
                    guard let handle else { throw PostgresError.from(result: nil, connection: pg, statement: sql) }
                    do {
                        try check(handle, sql: sql)
                    } catch let error as PostgresError where Self.isStalePlan(error) && PQtransactionStatus(pg) == PQTRANS_IDLE {
                        try await executor.run { [self] in forgetStatement(sql: sql, name: name) }
                        return nil
                    }
                    return handle
                }
                if handle == nil { handle = ResultHandle(result) } else { PQclear(result) }
            }
        }
    }

    /// Sends `begin` and the prepared `statement` in one round trip (libpq's pipeline mode) and
    /// returns the statement's result, or `begin`'s when that failed.
    private static func pipelined(
        _ pg: OpaquePointer, begin: String, statement: String, count: Int32, values: UnsafePointer<UnsafePointer<CChar>?>?
    ) -> OpaquePointer? {
        guard PQenterPipelineMode(pg) == 1 else {
            // Not possible here (the connection is busy?): one round trip each.
            if let result = PQexec(pg, begin) {
                let failed = PQresultStatus(result) != PGRES_COMMAND_OK
                if failed { return result }
                PQclear(result)
            }
            return PQexecPrepared(pg, statement, count, values, nil, nil, 0)
        }
        defer { PQexitPipelineMode(pg) }
        guard PQsendQueryParams(pg, begin, 0, nil, nil, nil, nil, 0) == 1,
            PQsendQueryPrepared(pg, statement, count, values, nil, nil, 0) == 1,
            PQpipelineSync(pg) == 1
        else { return nil }
        // Each query's results end with a NULL; the sync's marker comes last.
        var beginResult: OpaquePointer?
        var statementResult: OpaquePointer?
        var query = 0
        while query < 3 {
            guard let result = PQgetResult(pg) else {
                query += 1
                continue
            }
            switch (query, PQresultStatus(result)) {
            case (_, PGRES_PIPELINE_SYNC):
                PQclear(result)
                query = 3
            case (0, _) where beginResult == nil:
                beginResult = result
            case (1, _) where statementResult == nil:
                statementResult = result
            default:
                PQclear(result)
            }
        }
        if let beginResult, PQresultStatus(beginResult) != PGRES_COMMAND_OK {
            if let statementResult { PQclear(statementResult) }
            return beginResult
        }
        if let beginResult { PQclear(beginResult) }
        return statementResult
    }

    /// The name `sql` was prepared under on this connection with parameter types `oids`, if it was.
    private func cachedStatementName(sql: String, oids: [Oid]) -> String? {
        statements[sql]?.first { $0.types == oids }?.name
    }

    private func preparedName(sql: String, oids: [Oid], pg: OpaquePointer) throws -> String {
        if let name = cachedStatementName(sql: sql, oids: oids) { return name }
        statementCounter += 1
        let name = "wm_\(statementCounter)"
        let result = oids.withUnsafeBufferPointer { types in
            PQprepare(pg, name, sql, Int32(oids.count), types.baseAddress)
        }
        guard let result else { throw PostgresError.from(result: nil, connection: pg, statement: sql) }
        let handle = ResultHandle(result)
        try check(handle, sql: sql)
        statements[sql, default: []].append((oids, name))
        return name
    }

    // MARK: Transactions

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws.
    ///
    /// If a statement failed inside `body` and `body` swallowed the error, the server has already
    /// aborted the transaction; the COMMIT then turns into a rollback and this throws rather than
    /// pretend the work was saved.
    public func transaction<T>(
        isolation: PostgresIsolation = .readCommitted,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        _ = try requireConnection()
        pendingBegin = isolation == .readCommitted ? "BEGIN" : "BEGIN ISOLATION LEVEL \(isolation.rawValue)"
        managedTransaction = true
        commitHooks = []
        defer {
            managedTransaction = false
            pendingBegin = nil
            commitHooks = []
        }
        let value: T
        do {
            value = try await body(self)
        } catch {
            if pendingBegin == nil { try? await runScript("ROLLBACK") }
            throw error
        }
        // A body that sent nothing has nothing to commit.
        let status = pendingBegin != nil ? "COMMIT" : try await executor.run { [self] in try self.simpleBlocking("COMMIT") }
        if status != "COMMIT" {
            throw PostgresError(
                code: SQLState.inFailedTransaction,
                message: "the transaction was rolled back at COMMIT because a statement inside it had failed")
        }
        // The transaction is over: a hook that asks for another after-commit hook is told so.
        managedTransaction = false
        for hook in commitHooks { hook() }
        return value
    }

    /// Runs `hook` once the transaction that `transaction(_:)` is running on this connection has
    /// committed; never if it rolls back. Returns false, and keeps nothing, when no such transaction
    /// runs (outside one, or in one begun by hand with `runScript("BEGIN")`).
    @discardableResult
    public func afterCommit(_ hook: @escaping @Sendable () -> Void) -> Bool {
        guard managedTransaction else { return false }
        commitHooks.append(hook)
        return true
    }

    // MARK: COPY

    /// Streams `rows` into `copyStatement` (a `COPY … FROM STDIN` in text format) and returns the
    /// number of rows the server stored. `nil` fields are NULL. Rows are formatted 64 KiB at a
    /// time, so the server parses one piece while the next is formatted.
    @discardableResult
    public func copyIn(_ copyStatement: String, rows: [[String?]]) async throws -> Int {
        try await copyIn(copyStatement) { send in
            var piece = CopyText()
            for row in rows {
                for field in row { piece.append(field) }
                piece.endRow()
                if piece.bytes.count >= Self.copyPiece {
                    guard send(piece.bytes) else { return }
                    piece.removeAll()
                }
            }
            if !piece.isEmpty { _ = send(piece.bytes) }
        }
    }

    /// Sends `rows` to a `COPY … FROM STDIN (FORMAT binary)` statement; returns how many were stored.
    @discardableResult
    public func copyIn(_ copyStatement: String, _ rows: CopyBinary) async throws -> Int {
        try await copyIn(copyStatement) { send in
            guard send(rows.bytes) else { return }
            _ = send(CopyBinary.trailer)
        }
    }

    private static let copyPiece = 1 << 16

    /// Runs `sql`, then `produce`, which hands the data to `send` (false once sending failed).
    private func copyIn(_ sql: String, _ produce: @escaping @Sendable (_ send: ([UInt8]) -> Bool) -> Void) async throws -> Int {
        try await executor.run { [self] in
            if let begin = pendingBegin {
                pendingBegin = nil
                _ = try simpleBlocking(begin)
            }
            return try self.copyInBlocking(sql, produce)
        }
    }

    private func copyInBlocking(_ sql: String, _ produce: (_ send: ([UInt8]) -> Bool) -> Void) throws -> Int {
        let pg = try requireConnection()
        guard let start = PQexec(pg, sql) else { throw PostgresError.from(result: nil, connection: pg, statement: sql) }
        let startHandle = ResultHandle(start)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            try check(startHandle, sql: sql)
            throw PostgresError(code: PostgresError.invalidArgument, message: "copyIn needs a COPY … FROM STDIN statement", statement: sql)
        }
        var failure: PostgresError?
        produce { bytes in
            guard failure == nil else { return false }
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    var offset = 0
                    while offset < chars.count {
                        let length = min(Self.copyPiece, chars.count - offset)
                        guard PQputCopyData(pg, chars.baseAddress! + offset, Int32(length)) == 1 else {
                            failure = PostgresError.from(result: nil, connection: pg, statement: sql)
                            return
                        }
                        offset += length
                    }
                }
            }
            return failure == nil
        }
        let ended = failure == nil ? PQputCopyEnd(pg, nil) : PQputCopyEnd(pg, "client failed to send data")
        var stored = 0
        var serverError: PostgresError?
        while let result = PQgetResult(pg) {
            let handle = ResultHandle(result)
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                stored = Int(String(cString: PQcmdTuples(result))) ?? 0
            } else if serverError == nil {
                serverError = PostgresError.from(result: handle.pointer, connection: pg, statement: sql)
            }
        }
        if let failure { throw failure }
        if let serverError { throw serverError }
        if ended != 1 { throw PostgresError.from(result: nil, connection: pg, statement: sql) }
        return stored
    }

    // MARK: NOTIFY

    /// Sends a notification on `channel` (delivered when the current transaction, if any, commits).
    public func notify(channel: String, payload: String = "") async throws {
        try await query("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Closes the connection and stops its thread.
    public func close() async {
        _ = try? await executor.run { [self] in self.closeBlocking() }
        executor.shutdown()
    }

    /// Drops the connection at once, for a server that does not answer: shuts its socket down, so
    /// that a statement waiting for a reply fails (`PostgresError`, connection lost) instead of
    /// waiting for the operating system to give up on the peer, then closes it in the background.
    /// Unlike cancelling the statement (libpq's cancel request opens a connection to the same
    /// silent server), it waits for nothing.
    public func abort() {
        socketOpen.withLock { open in
            if open { _ = Glibc.shutdown(socket, Int32(SHUT_RDWR)) }
        }
        closeInBackground {}
    }

    /// Closes the connection on its own thread without waiting, stops the thread, then calls
    /// `done` there.
    func closeInBackground(then done: @escaping @Sendable () -> Void) {
        let accepted = executor.submit { [self] in
            closeBlocking()
            executor.shutdown()
            done()
        }
        if !accepted { done() }
    }

    func closeBlocking() {
        if let pg {
            socketOpen.withLock { $0 = false }
            reactor?.unregister(socket)
            PQfinish(pg)
            self.pg = nil
        }
    }
}

/// Carries a libpq pointer out of a pool thread.
struct UnsafeSendablePointer: @unchecked Sendable {
    // @unchecked Sendable: handed from the thread that created it to the one owner that keeps it.
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}
