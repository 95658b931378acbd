import Foundation
import Logging
import Synchronization
import WaymarkDomain

/// The repository's `config/` folder, found from this file.
let configDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config")

/// A fresh folder for files a test writes; removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-notifications-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs `body` with a copy of the shipped templates to change.
func withTemplateCopy<T>(_ body: (URL) throws -> T) throws -> T {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let source = configDirectory.appendingPathComponent("templates")
    for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
        try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: directory.appendingPathComponent(name))
    }
    return try body(directory)
}

/// The DefinitionError `body` throws, or nil.
func definitionError(_ body: () throws -> Void) -> DefinitionError? {
    do {
        try body()
        return nil
    } catch let error as DefinitionError {
        return error
    } catch {
        return nil
    }
}
