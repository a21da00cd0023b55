"""The server side of one MySQL client connection, as a state machine with no I/O.

Public API (the runtime and the SQL executor call exactly this)
================================================================

    from marmotdb.mysql.connection import ServerConnection, ProtocolSettings, ConnectionState
    from marmotdb.mysql import events as ev
    from marmotdb.mysql.auth import make_credential, generate_rsa_private_key
    from marmotdb.mysql.packets import SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS

    conn = ServerConnection(
        connection_id=7,                      # thread id shown to the client (CONNECTION_ID())
        rng=random.SystemRandom(),            # scramble source; a seeded Random in the simulator
        lookup_user=users.get,                # (user) -> credential str from make_credential | None
        server_version="8.0.36-marmotdb-0.1.0",
        ssl_context=ctx_or_None,              # server-side ssl.SSLContext; None = no TLS offered
        rsa_private_key=key_or_None,          # for caching_sha2 full auth without TLS
        settings=ProtocolSettings(max_allowed_packet_bytes=64 << 20),
        peer_host="127.0.0.1",                # only used in error messages ('user'@'host')
    )
    transport.write(conn.data_to_send())      # the HandshakeV10 is queued by the constructor

    # on every chunk from the socket (b"" = the peer closed):
    conn.receive_data(chunk)
    while (event := conn.next_event()) is not None:
        handle(event)                         # calls conn.accept_login()/send_*() as answers
    transport.write(conn.data_to_send())
    if conn.should_close:
        transport.close()

``next_event()`` returns None when it needs more bytes OR while the previous event still owes
an answer (so an executor that answers later, after an await, simply calls ``next_event()``
again once it has answered: pipelined commands already buffered are then delivered). It never
raises for anything the peer sends: bad input becomes a queued ERR packet, a
``ConnectionClosed(error)`` event and ``should_close``.

Events (marmotdb.mysql.events) and the answers they need:

    Authenticated(user, database, attrs, client_capabilities, auth_plugin, tls, change_user)
                      -> accept_login(status_flags=SERVER_STATUS_AUTOCOMMIT) | reject_login(err)
    Query(sql)        -> one or more of send_ok / send_result_set (more_results=True on all but
                         the last), or send_error (ends the answer)
    InitDb(database)  -> send_ok | send_error
    Ping()            -> send_ok
    FieldList(table, wildcard) -> send_field_list(columns) | send_error
    Statistics()      -> send_statistics(text)
    ResetConnection() -> send_ok (the machine already dropped its prepared statements)
    StmtPrepare(stmt_id, sql)  -> send_prepare_ok(stmt_id, columns, param_count) | send_error
    StmtExecute(stmt_id, flags, params, param_types)
                      -> like Query, with send_result_set(..., binary=True)
    StmtReset(stmt_id) -> send_ok (long data already cleared by the machine)
    StmtClose(stmt_id), Quit(), ConnectionClosed(error)  -> no answer

Answer methods (each appends to the output buffer; sequence ids are handled here):

    accept_login(status_flags: int = SERVER_STATUS_AUTOCOMMIT) -> None
    reject_login(error: MarmotError) -> None          # sends ERR, then should_close
    send_ok(affected_rows=0, last_insert_id=0, status_flags=None, warnings=0, info="",
            more_results=False) -> None
    send_error(error: MarmotError) -> None
    send_result_set(result: ResultSet, status_flags=None, more_results=False, binary=False,
                    warnings=0) -> None
    send_prepare_ok(stmt_id: int, columns: list[Column], param_count: int, warnings=0) -> None
    send_field_list(columns: list[Column]) -> None
    send_statistics(text: str) -> None

``status_flags=None`` means "the flags last given" (initially those passed to accept_login);
pass SERVER_STATUS_AUTOCOMMIT / SERVER_STATUS_IN_TRANS as the session changes.
MORE_RESULTS_EXISTS is added by the machine when ``more_results`` is True.

Read-only properties: ``state`` (ConnectionState), ``should_close``, ``awaiting_answer``,
``tls_active``, ``user``, ``database`` (the one sent at login / COM_INIT_DB event),
``client_capabilities``, ``connection_id``.

Things the machine answers by itself, without an event: COM_STMT_SEND_LONG_DATA (buffered,
bounded by max_allowed_packet), COM_STMT_FETCH (ERR 1235: cursors are not supported), an
unknown stmt id (ERR 1243), too many prepared statements (ERR 1461), an unknown command
(ERR 1047, connection stays usable), the RSA public-key request of caching_sha2_password.
"""
