import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the kernel's page cache holds of a file (for tests of writes that go around it).
public enum PageCache {
    /// How many of the pages of `path` in `range` (bytes) are in the page cache: `mincore` on a shared
    /// read-only mapping, which reads nothing itself. Nil when the file cannot be opened or mapped.
    public static func cachedPages(_ path: String, _ range: Range<Int>) -> Int? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let length = range.upperBound - start
        guard length > 0 else { return 0 }
        guard let mapped = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, off_t(start)), mapped != MAP_FAILED else { return nil }
        defer { munmap(mapped, length) }
        var resident = [UInt8](repeating: 0, count: (length + page - 1) / page)
        guard mincore(mapped, length, &resident) == 0 else { return nil }
        return resident.filter { $0 & 1 == 1 }.count
    }

    /// Whether `path` is on a filesystem whose files live in the page cache itself (tmpfs, ramfs), where no write
    /// can go around it: the type of the longest mount point in /proc/mounts that holds the path.
    public static func filesLiveInMemory(_ path: String) -> Bool {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        let holding = mounts.split(separator: "\n").compactMap { line -> (point: String, type: String)? in
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { return nil }
            let point = String(fields[1])
            let holds = resolved == point || resolved.hasPrefix(point == "/" ? "/" : point + "/")
            return holds ? (point, String(fields[2])) : nil
        }
        let type = holding.max { $0.point.count < $1.point.count }?.type
        return type == "tmpfs" || type == "ramfs"
    }
}
