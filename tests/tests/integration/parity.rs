//! The same scenarios (`scenarios/mod.rs`) through both public APIs and over every
//! transport, against the real `codex app-server`: `<transport>::async_api::*` drives
//! `codex_driver::Codex`, `<transport>::blocking_api::*` drives
//! `codex_driver::blocking::Codex`; `stdio` spawns the app-server, `websocket` and
//! `unix_socket` attach to one listening in the test's home (capability-token WebSocket,
//! the control socket).

macro_rules! parity {
    ($($scenario:ident),* $(,)?) => {
        parity!(@transport stdio, Stdio, $($scenario),*);
        parity!(@transport websocket, WebSocket, $($scenario),*);
        parity!(@transport unix_socket, UnixSocket, $($scenario),*);
    };
    (@transport $module:ident, $transport:ident, $($scenario:ident),*) => {
        mod $module {
            mod async_api {
                $(
                    #[tokio::test]
                    async fn $scenario() {
                        crate::scenarios::$scenario::<codex_driver::Codex>(
                            crate::scenarios::Transport::$transport,
                        )
                        .await
                    }
                )*
            }
            mod blocking_api {
                $(
                    #[tokio::test]
                    async fn $scenario() {
                        crate::scenarios::$scenario::<codex_driver::blocking::Codex>(
                            crate::scenarios::Transport::$transport,
                        )
                        .await
                    }
                )*
            }
        }
    };
}

parity!(
    run_returns_final_response_and_usage,
    stream_yields_deltas_then_turn_completed,
    steer_adds_input_to_the_running_turn,
    interrupt_then_a_follow_up_turn,
    failed_turn_is_an_error,
    thread_lifecycle,
    accepted_command_approval_runs,
    approvals_fail_closed_without_a_handler,
    killed_app_server_is_transport_closed,
    typed_output_parses_or_reports_a_mismatch,
    goal_runs_interrupts_and_resumes,
    device_code_login_succeeds_or_is_cancelled,
);
