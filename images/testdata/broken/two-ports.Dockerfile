# A service with its API (and health path) on 9898 and metrics on 9797,
# where every other path answers 404.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/fixture /app/fixture
USER 65532:65532
EXPOSE 9898 9797
ENTRYPOINT ["/app/fixture"]
CMD ["-listen", ":9898", "-also-listen", ":9797"]
