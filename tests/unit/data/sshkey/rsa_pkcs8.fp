2048 SHA256:ahjPGfX8DFQ6Z9PLszupTNal0dS/5e+DATegszIN+ok pkcs8@fixture (RSA)
