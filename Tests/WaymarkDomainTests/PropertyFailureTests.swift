import PropertyBased
import Testing
import WaymarkTesting

@Suite("Property checks")
struct PropertyFailureTests {
    struct Boom: Error {}

    @Test("a property whose body throws fails, naming the input that threw")
    func thrownErrorFails() async {
        let named = Locked(false)
        // Every issue is expected here (propertyCheck adds its own about the input it shrank to);
        // withKnownIssue fails the test when none is recorded at all.
        await withKnownIssue {
            await propertyCheck(count: 5, input: Gen.int(in: 0...9), perform: recordingErrors { (_: Int) in throw Boom() })
        } matching: { issue in
            if issue.error is Boom, issue.comments.contains(where: { $0.rawValue.contains("the property threw for the input (") }) {
                named.withLock { $0 = true }
            }
            return true
        }
        #expect(named.value, "the thrown error was recorded with its input")
    }
}
