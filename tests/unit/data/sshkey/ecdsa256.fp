256 SHA256:XlaUHYir3/UlSo0weYHajEziraIpK4zlVHOzCScgjqs ecdsa256@fixture (ECDSA)
