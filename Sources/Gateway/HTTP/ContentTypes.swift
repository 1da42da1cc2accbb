/// Content types for keys stored without one.
enum ContentTypes {
    static func guess(forKey key: String) -> String {
        let name = key.split(separator: "/").last ?? ""
        guard let dot = name.lastIndex(of: ".") else { return "application/octet-stream" }
        switch name[name.index(after: dot)...].lowercased() {
        case "mp3": return "audio/mpeg"
        case "wav": return "audio/wav"
        case "mp4", "m4a": return "audio/mp4"
        case "ogg", "oga": return "audio/ogg"
        case "txt": return "text/plain"
        case "json": return "application/json"
        default: return "application/octet-stream"
        }
    }
}
