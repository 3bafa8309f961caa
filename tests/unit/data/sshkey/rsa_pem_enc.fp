2048 SHA256:pnf1SGmbqMiBn2GF5k60Uqv/3h6hVoyhfo0Ti5BuAuY enc-pem@fixture (RSA)
