import Testing

/// A property's body whose thrown errors fail the test, each with the input that threw it.
///
/// swift-property-based's `propertyCheck` runs the body under `try?` (Swift 6.2 and later), so an
/// error the body throws is dropped and the property passes having checked nothing (see
/// docs/upstream-propertycheck-try.md). Pass every property's body through this:
///
///     await propertyCheck(input: Gen.int(in: 0...9), perform: recordingErrors { (n: Int) in … })
///
/// One overload per number of inputs (up to five): a function returning a closure over a
/// parameter pack does not compile yet.
public func recordingErrors<A>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: @escaping (A) async throws -> Void
) -> (A) async -> Void {
    { a in await record([a], sourceLocation) { try await body(a) } }
}

/// `recordingErrors` for a property of 2 inputs.
public func recordingErrors<A, B>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: @escaping (A, B) async throws -> Void
) -> (A, B) async -> Void {
    { a, b in await record([a, b], sourceLocation) { try await body(a, b) } }
}

/// `recordingErrors` for a property of 3 inputs.
public func recordingErrors<A, B, C>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: @escaping (A, B, C) async throws -> Void
) -> (A, B, C) async -> Void {
    { a, b, c in await record([a, b, c], sourceLocation) { try await body(a, b, c) } }
}

/// `recordingErrors` for a property of 4 inputs.
public func recordingErrors<A, B, C, D>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: @escaping (A, B, C, D) async throws -> Void
) -> (A, B, C, D) async -> Void {
    { a, b, c, d in await record([a, b, c, d], sourceLocation) { try await body(a, b, c, d) } }
}

/// `recordingErrors` for a property of 5 inputs.
public func recordingErrors<A, B, C, D, E>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: @escaping (A, B, C, D, E) async throws -> Void
) -> (A, B, C, D, E) async -> Void {
    { a, b, c, d, e in await record([a, b, c, d, e], sourceLocation) { try await body(a, b, c, d, e) } }
}

/// Runs `body`; an error it throws becomes a recorded issue naming `input`.
private func record(_ input: [Any], _ sourceLocation: SourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
    } catch {
        let values = input.map { String(reflecting: $0) }.joined(separator: ", ")
        Issue.record(error, "the property threw for the input (\(values))", sourceLocation: sourceLocation)
    }
}
