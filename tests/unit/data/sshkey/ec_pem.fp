384 SHA256:ru2RCWozkd5EhvlQyOey/iNNIQoLsbI5M4SdjcaEEKw ec-pem@fixture (ECDSA)
