import WaymarkDomain

/// The SLA clock moved to the domain as `SLAClock` (the process manager shares it); this module's
/// tests still call it `Clock`. Inside this module the name shadows the standard library's `Clock`
/// protocol, so code here that means that protocol writes `_Concurrency.Clock`.
typealias Clock = SLAClock
