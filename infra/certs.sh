# Test certificates, made once per checkout: a CA, a broker certificate
# whose names do NOT match the address the broker listens on (as on Heroku),
# a client certificate whose key is PKCS#1 (as Heroku hands it out), a
# second, unrelated CA with its own client (for refusal tests), and a
# Postgres server certificate.

# issue NAME CN SAN EXT CA_PREFIX: key (PKCS#1) and certificate signed by the CA.
issue_cert() {
  local name=$1 cn=$2 san=$3 usage=$4 ca=$5
  openssl genrsa -traditional -out "$name.key" 2048 2>/dev/null
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$san" "$usage" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

make_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" \
    -days 3650 -sha256 -subj "/CN=$2" 2>/dev/null
}

make_certs() {
  [ -f "$EDM_CERTS/.complete" ] && return 0
  log "making test certificates in $EDM_CERTS"
  rm -rf "$EDM_CERTS"
  mkdir -p "$EDM_CERTS"
  (
    cd "$EDM_CERTS"
    make_ca ca "EDM Test CA"
    make_ca other-ca "Unrelated Test CA"
    # Deliberately not 127.0.0.1 or localhost: clients must skip the
    # host-name check, exactly as on Heroku.
    issue_cert broker "kafka-broker.heroku.invalid" "DNS:kafka-broker.heroku.invalid" serverAuth ca
    issue_cert client "edm-test-client" "DNS:edm-test-client" clientAuth ca
    issue_cert other-client "intruder" "DNS:intruder" clientAuth other-ca
    issue_cert postgres "localhost" "DNS:localhost,IP:127.0.0.1" serverAuth ca
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem \
      -name broker -out broker.p12 -passout "pass:$EDM_KEYSTORE_PASSWORD"
    chmod 600 ./*.key
    touch .complete
  )
}
