import Foundation
import WaymarkPostgres

/// A projection row's fold: what the row's next events need, kept whole as JSON in its `fold`
/// column (dates as seconds since 1970), so that a batch reads each row it touches once and
/// writes it once.
///
/// The column is `text`, not `jsonb`: nothing queries inside a fold, and parsing it into jsonb on
/// every write cost about 4 % of a build's CPU. Builds made before have `jsonb` columns, which the
/// same statements read (`fold::text`) and write.
enum StoredFold {
    /// Writes `fold` columns; one serves a whole batch.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return encoder
    }

    /// The folds in the first column (`fold::text`) of `rows`, by `key`.
    static func decode<Fold: Decodable>(_ rows: PostgresRows, as type: Fold.Type, key: (Fold) -> String) throws -> [String: Fold] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        var folds: [String: Fold] = [:]
        for row in rows {
            let fold = try decoder.decode(type, from: Data(try row.decode(String.self, at: 0).utf8))
            folds[key(fold)] = fold
        }
        return folds
    }
}
