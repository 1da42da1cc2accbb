import SigV4
import Testing

struct URIEncodingTests {
    @Test func unreservedCharactersStay() {
        let unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
        #expect(URIEncoding.component(unreserved) == unreserved)
        #expect(URIEncoding.path("/" + unreserved + "/") == "/" + unreserved + "/")
    }

    @Test func everythingElseIsEncodedWithUppercaseHex() {
        #expect(URIEncoding.component(" +=@%&:,!'()*$;/?#[]\\") == "%20%2B%3D%40%25%26%3A%2C%21%27%28%29%2A%24%3B%2F%3F%23%5B%5D%5C")
        #expect(URIEncoding.path("/a b/c+d") == "/a%20b/c%2Bd")
        #expect(URIEncoding.component("é😀") == "%C3%A9%F0%9F%98%80")
    }

    @Test func decodeIsTheInverse() {
        for text in ["a b", "+=&", "é😀/x", "%20 literal"] {
            #expect(URIEncoding.decode(URIEncoding.component(text)) == text)
        }
        #expect(URIEncoding.decode("a+b") == "a+b")
        #expect(URIEncoding.decode("%zz") == nil)
        #expect(URIEncoding.decode("%C3") == nil)
        #expect(URIEncoding.decode("%") == nil)
    }

    @Test func queryKeepsOrderAndEmptyValues() {
        #expect(URIEncoding.query([QueryItem("uploads"), QueryItem("prefix", "a b")]) == "uploads=&prefix=a%20b")
    }
}
