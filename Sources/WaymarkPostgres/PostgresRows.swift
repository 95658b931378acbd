import CLibPQ

/// Owns a `PGresult`; freed when the last reference goes.
final class ResultHandle: @unchecked Sendable {
    // @unchecked Sendable: a PGresult is never mutated after libpq hands it over, and libpq's
    // accessors on a finished result are read-only, so reading it from any thread is safe.
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { PQclear(pointer) }
}

/// The rows a query returned, in text format, decoded on access.
public struct PostgresRows: Sendable, RandomAccessCollection {
    let handle: ResultHandle?
    public let count: Int

    init(handle: ResultHandle?) {
        self.handle = handle
        count = handle.map { Int(PQntuples($0.pointer)) } ?? 0
    }

    /// The result's column names, in order (built on demand: most callers decode by position).
    public var columnNames: [String] {
        guard let pointer = handle?.pointer else { return [] }
        return (0..<PQnfields(pointer)).map { String(cString: PQfname(pointer, $0)) }
    }

    /// Rows touched by an INSERT/UPDATE/DELETE/COPY, or returned by a SELECT.
    public var affectedRows: Int {
        guard let pointer = handle?.pointer else { return 0 }
        return Int(String(cString: PQcmdTuples(pointer))) ?? count
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> PostgresRow {
        PostgresRow(handle: handle!, row: Int32(position))
    }
}

/// One result row. Columns are addressed by position or name.
public struct PostgresRow: Sendable {
    let handle: ResultHandle
    let row: Int32

    public var columnCount: Int { Int(PQnfields(handle.pointer)) }

    /// The name of column `index`.
    func columnName(_ index: Int) -> String {
        String(cString: PQfname(handle.pointer, Int32(index)))
    }

    /// Decodes column `index` (0-based) as `T`; `Optional` types accept NULL.
    @inlinable
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at index: Int) throws -> T {
        try decodeColumn(type, index)
    }

    /// Decodes the column named `column` as `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column: String) throws -> T {
        guard let index = (0..<columnCount).first(where: { columnName($0) == column }) else {
            throw PostgresError(code: PostgresError.decodingFailure, message: "the result has no column named \"\(column)\"")
        }
        return try decodeColumn(type, index)
    }

    /// Decodes the leading columns as a tuple: `let (id, name) = try row.decode(Int64.self, String.self)`.
    @inlinable
    public func decode<each T: PostgresDecodable>(_ types: repeat (each T).Type) throws -> (repeat each T) {
        var index = 0
        // Counted through a pointer: a `var` captured by the nested function would be boxed and
        // each access to it checked for exclusivity at run time.
        return try withUnsafeMutablePointer(to: &index) { column in
            func next<U: PostgresDecodable>(_ type: U.Type) throws -> U {
                defer { column.pointee += 1 }
                return try decodeColumn(type, column.pointee)
            }
            return (repeat try next(each types))
        }
    }

    // Inlinable so that a reader's decoding is specialized for its column types (a generic call per
    // column cost a build a twentieth of its CPU); the checks and errors stay out of line.
    @inlinable
    func decodeColumn<T: PostgresDecodable>(_ type: T.Type, _ index: Int) throws -> T {
        guard let text = try columnText(index) else { return try decodeNull(type, index) }
        do {
            return try T.decode(postgresText: text)
        } catch {
            throw describe(error, decoding: T.self, at: index, text: text)
        }
    }

    /// Column `index`'s text, nil for NULL; valid while the row's result lives.
    @usableFromInline
    func columnText(_ index: Int) throws -> UnsafeBufferPointer<UInt8>? {
        guard index >= 0, index < columnCount else {
            throw PostgresError(
                code: PostgresError.decodingFailure, message: "column index \(index) is out of range (the result has \(columnCount) columns)")
        }
        let column = Int32(index)
        if PQgetisnull(handle.pointer, row, column) == 1 { return nil }
        let length = Int(PQgetlength(handle.pointer, row, column))
        return PQgetvalue(handle.pointer, row, column)!.withMemoryRebound(to: UInt8.self, capacity: length) {
            UnsafeBufferPointer(start: $0, count: length)
        }
    }

    @usableFromInline
    func decodeNull<T: PostgresDecodable>(_ type: T.Type, _ index: Int) throws -> T {
        do { return try T.decodeNull() } catch var error as PostgresError {
            error.serverMessage += " in column \"\(columnName(index))\""
            throw error
        }
    }

    /// `error` of decoding column `index` as `type`, naming the column and the value.
    @usableFromInline
    func describe(_ error: any Error, decoding type: Any.Type, at index: Int, text: UnsafeBufferPointer<UInt8>) -> any Error {
        guard let mismatch = error as? DecodingMismatch else { return error }
        return PostgresError(
            code: PostgresError.decodingFailure,
            message: "cannot decode column \"\(columnName(index))\" as \(type): \(mismatch.message)",
            detail: "value '\(String(decoding: UnsafeBufferPointer(rebasing: text.prefix(64)), as: UTF8.self))'")
    }
}
