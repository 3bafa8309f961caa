256 SHA256:o9khy9S4zoXn8dDZZUxW+4+Bl+iSMPayMiJvHRabif8 enc-pkcs8@fixture (ECDSA)
