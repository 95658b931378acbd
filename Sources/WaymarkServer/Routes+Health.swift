import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WaymarkErrors
import WaymarkEventStore
import WaymarkPostgres

extension ApiServer {
    /// The contract as committed, served as it is.
    public static var contract: String {
        get throws {
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
                throw ApiError(.notFound, "the API's contract (openapi.yaml) is not in the module's resources")
            }
            return try String(contentsOf: url, encoding: .utf8)
        }
    }

    struct Health: Codable {
        var status: String
    }

    struct ReadyCheck: Codable {
        var name: String
        var ok: Bool
        var problem: String?
    }

    struct Ready: Codable {
        var ready: Bool
        var checks: [ReadyCheck]
    }

    func addHealthRoutes(to router: Router<ApiContext>) {
        router.get("healthz") { _, _ in try jsonResponse(Health(status: "ok")) }
        router.get("readyz") { _, _ in
            var checks: [ReadyCheck] = []
            for check in readiness.checks {
                let problem = await check.problem()
                checks.append(ReadyCheck(name: check.name, ok: problem == nil, problem: problem))
            }
            let ready = checks.allSatisfy(\.ok)
            return try jsonResponse(Ready(ready: ready, checks: checks), status: ready ? .ok : .serviceUnavailable)
        }
        let contract = (try? Self.contract) ?? ""
        router.get("openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: contract)))
        }
    }
}

extension Readiness {
    /// The database answers within `timeout`.
    public static func database(_ store: EventStore, timeout: Duration = .seconds(2)) -> Check {
        Check(name: "database") {
            do {
                return try await withThrowingTaskGroup(of: String?.self) { group in
                    group.addTask {
                        _ = try await store.pool.query("SELECT 1")
                        return nil
                    }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        return "the database did not answer within \(timeout)"
                    }
                    let first = try await group.next()!
                    group.cancelAll()
                    return first
                }
            } catch {
                return "the database cannot be reached: \(ErrorReport(error).message)"
            }
        }
    }
}
