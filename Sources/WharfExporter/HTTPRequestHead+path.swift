import NIOHTTP1

extension HTTPRequestHead {
    /// The request target without its query: what the endpoints are chosen by.
    var path: String {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
    }
}
