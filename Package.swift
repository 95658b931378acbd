// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Waymark",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "WaymarkErrors", targets: ["WaymarkErrors"]),
        .library(name: "WaymarkPostgres", targets: ["WaymarkPostgres"]),
        .library(name: "WaymarkEventStore", targets: ["WaymarkEventStore"]),
        .library(name: "WaymarkTesting", targets: ["WaymarkTesting"]),
        .library(name: "WaymarkDomain", targets: ["WaymarkDomain"]),
        .library(name: "WaymarkDefinitions", targets: ["WaymarkDefinitions"]),
        .library(name: "WaymarkClient", targets: ["WaymarkClient"]),
        .library(name: "WaymarkSimulation", targets: ["WaymarkSimulation"]),
        .library(name: "WaymarkProjections", targets: ["WaymarkProjections"]),
        .library(name: "WaymarkProcessManager", targets: ["WaymarkProcessManager"]),
        .library(name: "WaymarkNotifications", targets: ["WaymarkNotifications"]),
        .library(name: "WaymarkReactions", targets: ["WaymarkReactions"]),
        .library(name: "WaymarkServer", targets: ["WaymarkServer"]),
        .library(name: "WaymarkConsole", targets: ["WaymarkConsole"]),
        .library(name: "WaymarkRuntime", targets: ["WaymarkRuntime"]),
        .executable(name: "waymark", targets: ["waymark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // The loopback webhook receiver of the tests, the notifications bench and the demo.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        // The TLS tests' own certificate authority.
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "WaymarkErrors"),
        .target(
            name: "WaymarkPostgres",
            dependencies: [
                "CLibPQ", "WaymarkErrors",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "WaymarkEventStore",
            dependencies: [
                "WaymarkErrors", "WaymarkPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The schema's migrations travel with the module, so they are found wherever a binary starts.
            resources: [.copy("Migrations")]
        ),
        .target(
            name: "WaymarkDomain",
            dependencies: [
                "WaymarkErrors",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "WaymarkDefinitions",
            dependencies: ["WaymarkDomain", "WaymarkErrors", "WaymarkEventStore"]
        ),
        .target(
            name: "WaymarkClient",
            dependencies: [
                "WaymarkDefinitions", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "WaymarkProjections",
            dependencies: [
                "WaymarkDefinitions", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "WaymarkProcessManager",
            dependencies: [
                "WaymarkDefinitions", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Its tables' migrations travel with the module, like the store's.
            resources: [.copy("Migrations")]
        ),
        .target(
            name: "WaymarkNotifications",
            dependencies: [
                "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkPostgres",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            resources: [.copy("Migrations")]
        ),
        .target(
            name: "WaymarkReactions",
            dependencies: [
                "WaymarkDefinitions", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkNotifications", "WaymarkPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Migrations")]
        ),
        .target(
            name: "WaymarkServer",
            dependencies: [
                "WaymarkClient", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkPostgres", "WaymarkProjections", "WaymarkProcessManager",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            resources: [.copy("Migrations"), .copy("Resources/openapi.yaml")]
        ),
        .target(
            name: "WaymarkConsole",
            dependencies: [
                "WaymarkServer", "WaymarkClient", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkPostgres", "WaymarkProjections",
                "WaymarkProcessManager",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("Templates"), .copy("Assets")]
        ),
        .target(
            name: "WaymarkWebhookReceiver",
            dependencies: [
                "WaymarkNotifications",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "WaymarkSimulation",
            dependencies: [
                "WaymarkClient", "WaymarkDomain", "WaymarkEventStore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "WaymarkRuntime",
            dependencies: [
                "WaymarkErrors", "WaymarkPostgres", "WaymarkEventStore", "WaymarkDomain", "WaymarkDefinitions", "WaymarkClient", "WaymarkProjections",
                "WaymarkProcessManager", "WaymarkNotifications", "WaymarkReactions", "WaymarkServer", "WaymarkConsole",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "WaymarkBench",
            dependencies: [
                "CLibPQ", "WaymarkPostgres", "WaymarkEventStore", "WaymarkDomain", "WaymarkClient", "WaymarkSimulation", "WaymarkProjections",
                "WaymarkProcessManager", "WaymarkDefinitions", "WaymarkRuntime", "WaymarkNotifications", "WaymarkWebhookReceiver", "WaymarkServer",
                "WaymarkConsole",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "waymark",
            dependencies: [
                "WaymarkErrors",
                "WaymarkPostgres",
                "WaymarkEventStore",
                "WaymarkDomain",
                "WaymarkClient",
                "WaymarkSimulation",
                "WaymarkProjections",
                "WaymarkRuntime",
                "WaymarkProcessManager",
                "WaymarkNotifications",
                "WaymarkWebhookReceiver",
                "WaymarkServer",
                "WaymarkBench",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "WaymarkTesting",
            dependencies: [
                "WaymarkPostgres",
                "WaymarkEventStore",
                // Every fresh store has the process manager's, the outbox's and the rules engine's tables, as `waymark migrate` makes them.
                "WaymarkProcessManager", "WaymarkNotifications", "WaymarkReactions",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "WaymarkPostgresTests",
            dependencies: ["WaymarkErrors", "WaymarkPostgres", "WaymarkTesting"]
        ),
        .testTarget(
            name: "WaymarkEventStoreTests",
            dependencies: [
                "WaymarkErrors", "WaymarkEventStore", "WaymarkPostgres", "WaymarkTesting",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "WaymarkDomainTests",
            dependencies: ["WaymarkDomain", "WaymarkErrors", "WaymarkTesting", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "WaymarkClientTests",
            dependencies: ["WaymarkClient", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkTesting"]
        ),
        .testTarget(
            name: "WaymarkSimulationTests",
            dependencies: ["WaymarkSimulation", "WaymarkClient", "WaymarkDomain", "WaymarkEventStore", "WaymarkTesting"]
        ),
        .testTarget(
            name: "WaymarkProjectionsTests",
            dependencies: [
                "WaymarkProjections", "WaymarkSimulation", "WaymarkClient", "WaymarkDefinitions", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore",
                "WaymarkRuntime", "WaymarkProcessManager", "WaymarkNotifications", "WaymarkReactions", "WaymarkServer", "WaymarkConsole",
                "WaymarkPostgres",
                "WaymarkTesting",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "WaymarkProcessManagerTests",
            dependencies: [
                "WaymarkProcessManager", "WaymarkClient", "WaymarkDefinitions", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkPostgres",
                "WaymarkProjections", "WaymarkSimulation", "WaymarkTesting",
            ]
        ),
        .testTarget(
            name: "WaymarkNotificationsTests",
            dependencies: [
                "WaymarkNotifications", "WaymarkDomain", "WaymarkErrors", "WaymarkEventStore", "WaymarkPostgres", "WaymarkTesting", "WaymarkWebhookReceiver",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "WaymarkReactionsTests",
            dependencies: [
                "WaymarkReactions", "WaymarkNotifications", "WaymarkProcessManager", "WaymarkClient", "WaymarkDefinitions", "WaymarkDomain", "WaymarkErrors",
                "WaymarkEventStore", "WaymarkPostgres", "WaymarkTesting",
            ]
        ),
        .testTarget(
            name: "WaymarkRuntimeTests",
            dependencies: ["WaymarkRuntime", "WaymarkEventStore", "WaymarkPostgres", "WaymarkProjections", "WaymarkProcessManager", "WaymarkTesting"]
        ),
        .testTarget(
            name: "WaymarkServerTests",
            dependencies: [
                "WaymarkServer", "WaymarkConsole", "WaymarkClient", "WaymarkDefinitions", "WaymarkDomain", "WaymarkEventStore", "WaymarkPostgres",
                "WaymarkTesting", "WaymarkProjections", "WaymarkProcessManager", "WaymarkSimulation", "WaymarkErrors",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "WaymarkCLITests",
            dependencies: [
                "waymark", "WaymarkPostgres", "WaymarkEventStore", "WaymarkDomain", "WaymarkClient", "WaymarkTesting", "WaymarkNotifications",
                "WaymarkWebhookReceiver",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
