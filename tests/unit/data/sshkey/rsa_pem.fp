2048 SHA256:Bc4ttaq5BZVbI2OPz/ZhdJRw8yN+tPnnUhMw+zNTJ6c rsa-pem@fixture (RSA)
