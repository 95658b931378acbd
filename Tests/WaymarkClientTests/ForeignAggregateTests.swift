import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

/// A support ticket: an aggregate the client has never heard of, defined here, outside the client
/// and the domain, and handled through the same command API as journeys.
struct TicketDecider: Decider {
    static let category = "ticket"

    struct State: Sendable, Equatable {
        var isOpen = false
        var notes: [String] = []
        var closedBy: UUID?
    }

    enum Command: Sendable, Encodable {
        case open(title: String)
        case note(PersonalData)
        case close
    }

    enum Event: DomainEvent, Equatable {
        case opened(Opened)
        case noted(Noted)
        case closed

        struct Opened: Codable, Equatable { var title: String }
        struct Noted: Codable, Equatable { var text: PersonalData }

        static let storedTypes: Set<String> = ["TicketOpened", "TicketNoted", "TicketClosed"]

        var type: String {
            switch self {
            case .opened: return "TicketOpened"
            case .noted: return "TicketNoted"
            case .closed: return "TicketClosed"
            }
        }

        func encode(with codec: EventCodec, subject: String?) throws -> String {
            switch self {
            case .opened(let payload): return try codec.encode(payload, subject: subject)
            case .noted(let payload): return try codec.encode(payload, subject: subject)
            case .closed: return "{}"
            }
        }

        static func decode(type: String, data: String, codec: EventCodec) throws -> Event? {
            switch type {
            case "TicketOpened": return .opened(try codec.decode(Opened.self, from: data))
            case "TicketNoted": return .noted(try codec.decode(Noted.self, from: data))
            case "TicketClosed": return .closed
            default: return nil
            }
        }
    }

    var initialState: State { State() }

    func decide(_ command: Command, on id: String, state: State) throws -> [Event] {
        switch command {
        case .open(let title):
            guard !state.isOpen, state.closedBy == nil else { throw Rejection(.invalidInput, "ticket \(id) was opened before") }
            return [.opened(.init(title: title))]
        case .note(let text):
            guard state.isOpen else { throw Rejection(.journeyClosed, "ticket \(id) is not open") }
            return [.noted(.init(text: text))]
        case .close:
            guard state.isOpen else { throw Rejection(.journeyClosed, "ticket \(id) is not open") }
            return [.closed]
        }
    }

    func evolve(_ state: State, _ event: Event, eventId: UUID) -> State {
        var next = state
        switch event {
        case .opened: next.isOpen = true
        case .noted(let noted): next.notes.append(noted.text.value)
        case .closed:
            next.isOpen = false
            next.closedBy = eventId
        }
        return next
    }

    func createsStream(_ command: Command) -> Bool {
        if case .open = command { return true }
        return false
    }

    /// The ticket's notes are about the customer the ticket is for: here, the ticket itself.
    func subject(of id: String, after state: State) -> String? { "customer-of-\(id)" }
}

/// Seals a personal field as `sealed:<subject>:<reversed text>`: enough to see where the codec
/// seals and opens, and for which subject.
struct ReversingSealing: PersonalDataSealing {
    func seal(_ value: String, subject: String) throws -> String { "sealed:\(subject):\(String(value.reversed()))" }
    func open(_ stored: String) throws -> String {
        guard stored.hasPrefix("sealed:"), let text = stored.split(separator: ":", maxSplits: 2).last else { return stored }
        return String(text.reversed())
    }
}

@Suite("An aggregate defined outside the client")
struct ForeignAggregateTests {
    func ticketState(_ client: WaymarkClient, _ id: String) async throws -> TicketDecider.State {
        var state = TicketDecider.State()
        for event in try await client.store.readStream(TicketDecider.streamName(id)).events {
            if let decoded = try TicketDecider.Event.decode(type: event.type, data: event.data, codec: client.configuration.codec) {
                state = TicketDecider().evolve(state, decoded, eventId: event.id)
            }
        }
        return state
    }

    @Test("decided, appended, refused, retried and answered from the log like the domain's own commands")
    func throughTheClient() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let tickets = TicketDecider()
        let opened = try await client.send(.open(title: "router broken"), to: "T-1", with: tickets)
        #expect(opened.types == ["TicketOpened"] && opened.streamName == "ticket-T-1" && opened.streamVersion == 1)

        let noteId = UUID()
        let noted = try await client.send(.note(PersonalData("call Ana on 555-0100")), to: "T-1", with: tickets, context: CommandContext(id: noteId))
        let retried = try await client.send(.note(PersonalData("call Ana on 555-0100")), to: "T-1", with: tickets, context: CommandContext(id: noteId))
        #expect(retried.replayed && retried.events == noted.events)
        // The same id for another note is refused: the default fingerprint covers the command's content.
        await #expect {
            try await client.send(.note(PersonalData("call Ben")), to: "T-1", with: tickets, context: CommandContext(id: noteId))
        } throws: { ($0 as? ClientError)?.code == .commandIdReused }

        await #expect(throws: Rejection.self) { try await client.send(.open(title: "again"), to: "T-1", with: tickets) }
        let closed = try await client.send(.close, to: "T-1", with: tickets)
        let state = try await ticketState(client, "T-1")
        #expect(state == .init(isOpen: false, notes: ["call Ana on 555-0100"], closedBy: closed.events[0].id))
        await #expect(throws: Rejection.self) { try await client.send(.note(PersonalData("late")), to: "T-1", with: tickets) }
        #expect(try await client.store.readStream("ticket-T-1").events.count == 3)
    }

    @Test("inside a caller's transaction, beside a journey command")
    func inATransaction() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        try await client.store.transaction { transaction in
            try await client.send(startCommand("j-9"), to: "j-9", in: transaction)
            try await client.send(.open(title: "onboarding call"), to: "T-9", with: TicketDecider(), in: transaction)
        }
        #expect(try await ticketState(client, "T-9").isOpen)
        #expect(try await client.state(journey: "j-9").status == .active)
    }

    @Test("the codec's sealing hook sees each personal field with its subject, and opens it on the way back")
    func sealingHook() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        let client = WaymarkClient(
            store: store, catalog: catalog, configuration: ClientConfiguration(codec: EventCodec(sealing: ReversingSealing())), logger: TestDatabase.quietLogger
        )
        try await client.send(.open(title: "router broken"), to: "T-2", with: TicketDecider())
        try await client.send(.note(PersonalData("call Ana")), to: "T-2", with: TicketDecider())
        let stored = try await store.readStream("ticket-T-2").events.map(\.data)
        #expect(stored[0].contains("router broken"))
        #expect(stored[1].contains("sealed:customer-of-T-2:anA llac") && !stored[1].contains("call Ana"))
        #expect(try await ticketState(client, "T-2").notes == ["call Ana"])

        // The customer directory stores its personal fields through the same codec, for the customer.
        let directory = CustomerDirectory(client: client)
        try await directory.register(customerId: "c-1", name: PersonalData("Ana Lima"), tier: "enterprise")
        let registered = try #require(try await store.readStream("customer-c-1").events.first)
        #expect(registered.data.contains("sealed:c-1:amiL anA") && !registered.data.contains("Ana Lima"))
        #expect(try await directory.state(of: "c-1").isRegistered)
    }
}
