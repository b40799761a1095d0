// Bouncy Castle as an outside verifier of earchive's CMS (issue 21): exit 0 when the detached SignedData verifies over the content
// with its signer's certificate chaining to the CA given, 1 when it does not (the reason on stderr), 2 on a wrong command line.
// Usage: java -cp <bcprov:bcpkix:bcutil:.> BcVerify SIGNATURE.p7s CONTENT CA.pem
import java.io.FileReader;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.Security;
import java.security.cert.X509Certificate;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.util.Selector;

public class BcVerify {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) { System.err.println("usage: BcVerify SIGNATURE CONTENT CA.pem"); System.exit(2); }
        Security.addProvider(new BouncyCastleProvider());
        try {
            CMSSignedData sd = new CMSSignedData(new CMSProcessableByteArray(Files.readAllBytes(Paths.get(args[1]))),
                                                 Files.readAllBytes(Paths.get(args[0])));
            X509CertificateHolder caHolder;
            try (PEMParser pem = new PEMParser(new FileReader(args[2]))) { caHolder = (X509CertificateHolder) pem.readObject(); }
            JcaX509CertificateConverter conv = new JcaX509CertificateConverter().setProvider("BC");
            X509Certificate ca = conv.getCertificate(caHolder);
            if (sd.getSignerInfos().size() != 1) throw new Exception("expected one signer");
            SignerInformation si = sd.getSignerInfos().getSigners().iterator().next();
            @SuppressWarnings("unchecked")
            X509CertificateHolder leafHolder = (X509CertificateHolder) sd.getCertificates().getMatches((Selector) si.getSID()).iterator().next();
            X509Certificate leaf = conv.getCertificate(leafHolder);
            leaf.verify(ca.getPublicKey());
            if (!si.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(leaf))) throw new Exception("signature does not verify");
            System.out.println("verified");
            System.exit(0);
        } catch (Exception e) {
            System.err.println("refused: " + e);
            System.exit(1);
        }
    }
}
