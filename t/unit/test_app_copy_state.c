/*
 * test_app_copy_state.c -- app_copy_state.c: the life of one copy of an
 * [app], driven through its transitions without a process.
 */
#include <check.h>
#include <stddef.h>

#include "app_copy_state.h"
#include "support/testutil.h"

/* Drives s through events; asserts every step lands where expected. */
static fcw_copy_state drive(fcw_copy_state s, const fcw_copy_event *ev, const fcw_copy_state *want,
                            size_t n) {
    for (size_t i = 0; i < n; i++) {
        int next = fcw_copy_next(s, ev[i]);
        ck_assert_msg(next == (int)want[i], "step %zu: %s in %s gave %s, expected %s", i,
                      fcw_copy_event_name(ev[i]), fcw_copy_state_name(s),
                      fcw_copy_state_name(next), fcw_copy_state_name(want[i]));
        s = (fcw_copy_state)next;
    }
    return s;
}

START_TEST(a_copy_starts_serves_and_is_recycled) {
    const fcw_copy_event ev[] = {FCW_COPY_EV_SPAWNED, FCW_COPY_EV_READY, FCW_COPY_EV_TAKEN,
                                 FCW_COPY_EV_GIVEN,   FCW_COPY_EV_TAKEN, FCW_COPY_EV_SPENT,
                                 FCW_COPY_EV_STOPPED, FCW_COPY_EV_EXITED};
    const fcw_copy_state want[] = {FCW_COPY_STARTING, FCW_COPY_IDLE,     FCW_COPY_BUSY,
                                   FCW_COPY_IDLE,     FCW_COPY_BUSY,     FCW_COPY_RETIRING,
                                   FCW_COPY_STOPPING, FCW_COPY_DOWN};
    drive(FCW_COPY_DOWN, ev, want, sizeof ev / sizeof ev[0]);
}
END_TEST

START_TEST(a_copy_that_dies_is_down_from_any_state_with_a_process) {
    for (int s = FCW_COPY_STARTING; s < FCW_COPY_STATES; s++)
        ck_assert_msg(fcw_copy_next((fcw_copy_state)s, FCW_COPY_EV_EXITED) == FCW_COPY_DOWN,
                      "exited in %s", fcw_copy_state_name(s));
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_DOWN, FCW_COPY_EV_EXITED), FCW_COPY_INVALID);
}
END_TEST

START_TEST(only_an_idle_copy_is_lent) {
    for (int s = 0; s < FCW_COPY_STATES; s++) {
        int next = fcw_copy_next((fcw_copy_state)s, FCW_COPY_EV_TAKEN);
        if (s == FCW_COPY_IDLE)
            ck_assert_int_eq(next, FCW_COPY_BUSY);
        else
            ck_assert_msg(next == FCW_COPY_INVALID, "taken in %s gave %s",
                          fcw_copy_state_name(s), fcw_copy_state_name(next));
    }
}
END_TEST

START_TEST(a_request_finishes_on_a_copy_being_stopped) {
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_BUSY, FCW_COPY_EV_STOPPED), FCW_COPY_STOPPING);
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_STOPPING, FCW_COPY_EV_GIVEN), FCW_COPY_STOPPING);
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_STOPPING, FCW_COPY_EV_SPENT), FCW_COPY_STOPPING);
    /* One SIGTERM: the escalation to SIGKILL is the supervisor's timer, not a second stop. */
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_STOPPING, FCW_COPY_EV_STOPPED), FCW_COPY_INVALID);
}
END_TEST

START_TEST(a_copy_never_starts_twice_nor_serves_before_ready) {
    for (int s = FCW_COPY_STARTING; s < FCW_COPY_STATES; s++)
        ck_assert_msg(fcw_copy_next((fcw_copy_state)s, FCW_COPY_EV_SPAWNED) == FCW_COPY_INVALID,
                      "spawned in %s", fcw_copy_state_name(s));
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_STARTING, FCW_COPY_EV_TAKEN), FCW_COPY_INVALID);
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_DOWN, FCW_COPY_EV_READY), FCW_COPY_INVALID);
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_IDLE, FCW_COPY_EV_READY), FCW_COPY_INVALID);
}
END_TEST

/* A successor takes over a retiring copy at once; nothing else is replaced. */
START_TEST(only_a_retiring_copy_is_replaced_by_its_successor) {
    for (int s = 0; s < FCW_COPY_STATES; s++) {
        int next = fcw_copy_next((fcw_copy_state)s, FCW_COPY_EV_REPLACED);
        if (s == FCW_COPY_RETIRING)
            ck_assert_int_eq(next, FCW_COPY_IDLE);
        else
            ck_assert_msg(next == FCW_COPY_INVALID, "replaced in %s gave %s",
                          fcw_copy_state_name(s), fcw_copy_state_name(next));
    }
}
END_TEST

START_TEST(serving_states_and_names) {
    ck_assert(fcw_copy_serving(FCW_COPY_IDLE));
    ck_assert(fcw_copy_serving(FCW_COPY_BUSY));
    ck_assert(!fcw_copy_serving(FCW_COPY_STARTING));
    ck_assert(!fcw_copy_serving(FCW_COPY_RETIRING));
    ck_assert(!fcw_copy_serving(FCW_COPY_STOPPING));
    ck_assert(!fcw_copy_serving(FCW_COPY_DOWN));
    ck_assert_str_eq(fcw_copy_state_name(FCW_COPY_RETIRING), "retiring");
    ck_assert_str_eq(fcw_copy_state_name(FCW_COPY_STATES), "invalid");
    ck_assert_str_eq(fcw_copy_event_name(FCW_COPY_EV_SPENT), "spent");
    ck_assert_str_eq(fcw_copy_event_name(FCW_COPY_EV_REPLACED), "replaced");
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_STATES, FCW_COPY_EV_SPAWNED), FCW_COPY_INVALID);
    ck_assert_int_eq(fcw_copy_next(FCW_COPY_DOWN, FCW_COPY_EVENTS), FCW_COPY_INVALID);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("app_copy_state");
    TCase *tc = tcase_create("transitions");
    tcase_add_test(tc, a_copy_starts_serves_and_is_recycled);
    tcase_add_test(tc, a_copy_that_dies_is_down_from_any_state_with_a_process);
    tcase_add_test(tc, only_an_idle_copy_is_lent);
    tcase_add_test(tc, a_request_finishes_on_a_copy_being_stopped);
    tcase_add_test(tc, a_copy_never_starts_twice_nor_serves_before_ready);
    tcase_add_test(tc, only_a_retiring_copy_is_replaced_by_its_successor);
    tcase_add_test(tc, serving_states_and_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
