import HTTPTypes
import Hummingbird

/// The admin web page's three files, compiled into the binary from `AdminPage/` and served by the
/// admin listener without a token (the page asks for it and sends it to `/api/` only). The
/// content security policy allows this origin's script and style only: no inline code, no CDN.
enum AdminPage {
    static let paths = ["/", "/index.html", "/admin.css", "/admin.js"]

    static func response(path: String) throws -> Response {
        let file: (bytes: [UInt8], type: String)
        switch path {
        case "/", "/index.html": file = (PackageResources.index_html, "text/html; charset=utf-8")
        case "/admin.css": file = (PackageResources.admin_css, "text/css; charset=utf-8")
        case "/admin.js": file = (PackageResources.admin_js, "text/javascript; charset=utf-8")
        default: throw GatewayError(.notFound, "not_found", "no such admin route")
        }
        var headers: HTTPFields = [
            .contentType: file.type,
            .cacheControl: "no-cache",
            .contentSecurityPolicy:
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            .xContentTypeOptions: "nosniff",
        ]
        if let referrerPolicy = HTTPField.Name("Referrer-Policy") { headers[referrerPolicy] = "no-referrer" }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }
}
