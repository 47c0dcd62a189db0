# Declarations other compiled wire modules cimport (``_counters``: the metrics hook reads a
# request's fields as struct members, not through getattr). The fields are declared here only.
cimport cython


@cython.final
cdef class Request:
    cdef public object id
    cdef public object method
    cdef public object params
